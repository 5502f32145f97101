"""An in-memory Zoho for writer tests: the client methods the writer uses, with Zoho's rules.

- ``rs_sync_key`` is unique per module: a repeated insert answers ``DUPLICATE_DATA`` with the
  existing id, which (like the real client) is reported as ``ok`` with ``duplicate=True``;
- lookups (``What_Id``, ``Who_Id``) must name an existing record, else ``INVALID_DATA``;
- records whose sync key is in ``reject`` (or any field equals ``"REJECT"``) fail with
  ``INVALID_DATA``, every time, like a record Zoho finds invalid;
- ``crash_points``: cumulative counts of applied records at which the "connection" drops: the
  records up to that point are applied, then :class:`RetriableError` is raised (a lost answer,
  or a crash of the run mid-way).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks.zoho.errors import RetriableError

LOOKUPS = ("What_Id", "Who_Id")


@dataclass(frozen=True, slots=True)
class FakeResult:
    ok: bool
    id: str | None
    code: str
    message: str
    details: Mapping[str, Any]
    duplicate: bool = False


@dataclass
class FakeZoho:
    reject: set[str] = field(default_factory=set)
    crash_points: list[int] = field(default_factory=list)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    applied: int = 0
    crashes: int = 0
    limits: dict[str, dict[str, int]] = field(default_factory=dict)
    """Module → text field lengths (what the fields metadata would say)."""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_000_001))

    # -- test helpers ------------------------------------------------------------------------

    def seed(self, module: str, record_id: str, **fields: Any) -> None:
        self.records.setdefault(module, {})[record_id] = {"id": record_id, **fields}

    def find(self, record_id: str) -> dict[str, Any] | None:
        for recs in self.records.values():
            if record_id in recs:
                return recs[record_id]
        return None

    def with_key(self, key: str, field_name: str = "rs_sync_key") -> list[dict[str, Any]]:
        return [
            r for recs in self.records.values() for r in recs.values() if r.get(field_name) == key
        ]

    def all_keys(self, field_name: str = "rs_sync_key") -> list[str]:
        return [
            r[field_name]
            for recs in self.records.values()
            for r in recs.values()
            if field_name in r
        ]

    # -- crash machinery ---------------------------------------------------------------------

    def _maybe_crash(self) -> None:
        if self.crash_points and self.applied >= self.crash_points[0]:
            self.crash_points.pop(0)
            self.crashes += 1
            raise RetriableError("connection reset after the write", code="ReadError")

    def _invalid(self, rec: Mapping[str, Any], key: str | None) -> FakeResult | None:
        if key in self.reject or "REJECT" in rec.values():
            return FakeResult(False, None, "INVALID_DATA", "invalid data", {"api_name": "Subject"})
        for name in LOOKUPS:
            value = rec.get(name)
            if value is not None and (
                not isinstance(value, Mapping) or self.find(str(value.get("id"))) is None
            ):
                return FakeResult(False, None, "INVALID_DATA", "invalid data", {"api_name": name})
        return None

    # -- the client interface ----------------------------------------------------------------

    async def insert(
        self,
        module: str,
        records: Sequence[Mapping[str, Any]],
        *,
        sync_key_field: str = "rs_sync_key",
        on_batch: Any = None,  # one call is one request here: its results come back at the end
    ) -> list[FakeResult]:
        self.requests.append(("insert", module, len(records)))
        self._maybe_crash()
        out: list[FakeResult] = []
        table = self.records.setdefault(module, {})
        for rec in records:
            key = rec.get(sync_key_field)
            existing = [
                r for r in table.values() if key is not None and r.get(sync_key_field) == key
            ]
            if existing:
                rid = existing[0]["id"]
                out.append(
                    FakeResult(True, rid, "DUPLICATE_DATA", "duplicate data", {"id": rid}, True)
                )
                continue
            bad = self._invalid(rec, key)
            if bad is not None:
                out.append(bad)
                continue
            rid = str(next(self._ids))
            table[rid] = {**rec, "id": rid}
            self.applied += 1
            out.append(FakeResult(True, rid, "SUCCESS", "record added", {"id": rid}))
            self._maybe_crash()
        return out

    async def update(
        self, module: str, records: Sequence[Mapping[str, Any]], *, on_batch: Any = None
    ) -> list[FakeResult]:
        self.requests.append(("update", module, len(records)))
        self._maybe_crash()
        out: list[FakeResult] = []
        table = self.records.setdefault(module, {})
        for rec in records:
            rid = str(rec.get("id"))
            if rid not in table:
                out.append(
                    FakeResult(False, None, "INVALID_DATA", "the id given seems to be invalid", {})
                )
                continue
            bad = self._invalid(rec, None)
            if bad is not None:
                out.append(bad)
                continue
            table[rid].update(rec)
            self.applied += 1
            out.append(FakeResult(True, rid, "SUCCESS", "record updated", {"id": rid}))
            self._maybe_crash()
        return out

    async def text_limits(self, module: str) -> Mapping[str, int]:
        return self.limits.get(module, {})

    async def find_by_sync_keys(
        self, module: str, keys: Iterable[str], *, field: str = "rs_sync_key"
    ) -> dict[str, str]:
        wanted = set(keys)
        return {
            r[field]: r["id"]
            for r in self.records.get(module, {}).values()
            if r.get(field) in wanted
        }
