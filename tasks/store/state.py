"""Cursors, the persisted phone index, and runs.

Cursors only move forward (a rerun of an old window must not rewind the ingest cursor) and only
take aware datetimes. The phone index keeps one row per CRM record with its phones as JSON; its
per-module ``Modified_Time`` watermarks are cursors named ``crm:<Module>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Update, and_, bindparam, delete, func, insert, update
from sqlmodel import Session, col, select

from models.call import Phone
from models.crm import CrmModule, CrmRecord, ZohoUser
from models.tables import (
    CrmIndexRecord,
    CrmPhoneKeyRecord,
    CursorRecord,
    OrgCacheRecord,
    RunRecord,
    UserRecord,
)
from tasks.store.base import StoreBase, chunks, require_aware, unique
from tasks.store.rows import to_json

INDEX_CURSOR_PREFIX = "crm:"


def index_cursor(module: str) -> str:
    return f"{INDEX_CURSOR_PREFIX}{module}"


def _advance(session: Session, name: str, position: datetime, now: datetime) -> datetime:
    position = require_aware(position, f"cursor {name!r}")
    rec = session.get(CursorRecord, name)
    if rec is None:
        session.add(CursorRecord(name=name, position=position, updated_at=now))
        return position
    if position <= rec.position:
        return rec.position
    rec.position = position
    rec.updated_at = now
    session.add(rec)
    return position


def _phones_json(phones: Iterable[Phone]) -> str:
    return to_json(
        [
            {
                "raw": p.raw,
                "e164": p.e164,
                "key": p.key,
                "country_code": p.country_code,
                "valid": p.valid,
            }
            for p in phones
        ]
    )


def _phones(text: str) -> tuple[Phone, ...]:
    items: list[dict[str, Any]] = json.loads(text or "[]")
    return tuple(
        Phone(
            raw=str(p["raw"]),
            e164=str(p["e164"]),
            key=str(p["key"]),
            country_code=p.get("country_code"),
            valid=bool(p.get("valid")),
        )
        for p in items
    )


def _index_columns(rec: CrmRecord) -> dict[str, Any]:
    """A CRM record as ``crm_index`` column values."""
    keys = sorted({p.key for p in rec.phones})
    return {
        "module": rec.module,
        "id": rec.id,
        "owner_id": rec.owner_id,
        "modified_time": rec.modified_time,
        "phones_json": _phones_json(rec.phones),
        # Space-delimited so that ``LIKE '% key %'`` finds a key without matching a key's suffix.
        "phone_keys": f" {' '.join(keys)} " if keys else "",
        "converted": rec.converted,
        "stage": rec.stage,
        "contact_id": rec.contact_id,
        "name": rec.name,
        "utm_json": to_json(dict(rec.utm)),
        "converted_contact_id": rec.converted_contact_id,
        "converted_deal_id": rec.converted_deal_id,
        "converted_at": rec.converted_at,
        "lead_status": rec.lead_status,
        "amount": rec.amount,
        "closing_date": rec.closing_date,
        "sync_key": rec.sync_key,
        "deleted": False,
    }


def _index_keys(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    """(module, id) -> ``deleted`` of the indexed records among ``keys``."""
    by_module: dict[str, list[str]] = {}
    for module, rid in keys:
        by_module.setdefault(module, []).append(rid)
    found: dict[tuple[str, str], bool] = {}
    for module, ids in by_module.items():
        for batch in chunks(dict.fromkeys(ids)):
            rows = session.exec(
                select(CrmIndexRecord.id, CrmIndexRecord.deleted).where(
                    CrmIndexRecord.module == module, col(CrmIndexRecord.id).in_(batch)
                )
            )
            found.update(((module, rid), bool(deleted)) for rid, deleted in rows)
    return found


def _by_key(columns: Iterable[str]) -> Update:
    """``UPDATE crm_index SET <columns> WHERE module = :b_module AND id = :b_id``."""
    return (
        update(CrmIndexRecord)
        .where(
            col(CrmIndexRecord.module) == bindparam("b_module"),
            col(CrmIndexRecord.id) == bindparam("b_id"),
        )
        .values({name: bindparam(name) for name in columns})
    )


def _record(row: CrmIndexRecord) -> CrmRecord:
    return CrmRecord(
        module=cast(CrmModule, row.module),
        id=row.id,
        owner_id=row.owner_id,
        modified_time=row.modified_time,
        phones=_phones(row.phones_json),
        converted=row.converted,
        stage=row.stage,
        contact_id=row.contact_id,
        name=row.name,
        utm=dict(json.loads(row.utm_json or "{}")),
        converted_contact_id=row.converted_contact_id,
        converted_deal_id=row.converted_deal_id,
        converted_at=row.converted_at,
        lead_status=row.lead_status,
        amount=row.amount,
        closing_date=row.closing_date,
        sync_key=row.sync_key,
    )


def upsert_index(
    session: Session,
    recs: Sequence[CrmRecord],
    deleted: Iterable[tuple[str, str]] = (),
    *,
    now: datetime,
) -> None:
    """Upsert index records (and their phone-key rows) and mark ``deleted`` ones gone, inside
    the caller's transaction: the sync's refresh and the ledger's learned writes share it."""
    gone = list(deleted)
    existing = _index_keys(session, [(r.module, r.id) for r in recs] + gone)
    fresh: dict[tuple[str, str], dict[str, Any]] = {}
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in recs:
        key = (rec.module, rec.id)
        columns = _index_columns(rec) | {"updated_at": now}
        if key in existing:
            changes[key] = columns | {"b_module": rec.module, "b_id": rec.id}
        else:
            fresh[key] = columns
    # Core statements: a first load or a large refresh is tens of thousands of rows.
    connection = session.connection()
    if fresh:
        connection.execute(insert(CrmIndexRecord), list(fresh.values()))
    if changes:
        sample = next(iter(changes.values()))
        names = [n for n in sample if not n.startswith("b_")]
        connection.execute(_by_key(names), list(changes.values()))
    marked = [
        {"b_module": module, "b_id": rid, "deleted": True, "updated_at": now}
        for module, rid in dict.fromkeys(gone)
        if existing.get((module, rid)) is False
    ]
    if marked:
        connection.execute(_by_key(["deleted", "updated_at"]), marked)
    # The phone-key rows follow their records: replaced for every record written, dropped for
    # every record gone.
    touched = [*changes, *((m, r) for m, r in gone)]
    _drop_keys(connection, touched)
    key_rows = [
        {"phone_key": k, "module": rec.module, "record_id": rec.id}
        for rec in recs
        for k in sorted({p.key for p in rec.phones})
    ]
    if key_rows:
        connection.execute(insert(CrmPhoneKeyRecord), key_rows)


def _drop_keys(connection: Connection, records: Sequence[tuple[str, str]]) -> None:
    by_module: dict[str, list[str]] = {}
    for module, rid in records:
        by_module.setdefault(module, []).append(rid)
    for module, ids in by_module.items():
        for batch in chunks(dict.fromkeys(ids)):
            connection.execute(
                delete(CrmPhoneKeyRecord).where(
                    col(CrmPhoneKeyRecord.module) == module,
                    col(CrmPhoneKeyRecord.record_id).in_(batch),
                )
            )


class StateMixin(StoreBase):
    """The ``cursors``, ``crm_index`` and ``runs`` tables."""

    # -- cursors ---------------------------------------------------------------------------

    def get_cursor(self, name: str) -> datetime | None:
        with self._tx() as session:
            rec = session.get(CursorRecord, name)
            return None if rec is None else rec.position

    def set_cursor(self, name: str, position: datetime) -> datetime:
        """Move the cursor forward to ``position``; an earlier position leaves it where it is.

        Returns the cursor's position afterwards. Raises ValueError on a naive datetime.
        """
        require_aware(position, f"cursor {name!r}")
        now = self._now()
        with self._tx() as session:
            return _advance(session, name, position, now)

    # -- phone index -----------------------------------------------------------------------

    def load_index(self) -> tuple[dict[tuple[str, str], CrmRecord], dict[str, datetime]]:
        """The persisted phone index: records by (module, id) and watermarks by module."""
        with self._tx() as session:
            rows = session.exec(
                select(CrmIndexRecord).where(col(CrmIndexRecord.deleted).is_(False))
            ).all()
            cursors = session.exec(
                select(CursorRecord).where(col(CursorRecord.name).startswith(INDEX_CURSOR_PREFIX))
            ).all()
        records = {(r.module, r.id): _record(r) for r in rows}
        marks = {c.name.removeprefix(INDEX_CURSOR_PREFIX): c.position for c in cursors}
        return records, marks

    def save_index(
        self,
        records: Iterable[CrmRecord] | Mapping[tuple[str, str], CrmRecord],
        watermarks: Mapping[str, datetime],
        *,
        deleted: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Upsert records, mark ``deleted`` (module, id) pairs as gone, advance watermarks.

        One transaction: the watermarks never get ahead of the records they cover.
        """
        recs = list(records.values() if isinstance(records, Mapping) else records)
        for module, mark in watermarks.items():
            require_aware(mark, f"watermark of {module}")
        now = self._now()
        with self._tx() as session:
            upsert_index(session, recs, deleted, now=now)
            for module, mark in watermarks.items():
                _advance(session, index_cursor(module), mark, now)

    def index_watermarks(self) -> dict[str, datetime]:
        """The phone index's watermarks by name (``Leads``, ``Leads:deleted``, ...)."""
        with self._tx() as session:
            cursors = session.exec(
                select(CursorRecord).where(col(CursorRecord.name).startswith(INDEX_CURSOR_PREFIX))
            ).all()
        return {c.name.removeprefix(INDEX_CURSOR_PREFIX): c.position for c in cursors}

    def index_size(self) -> int:
        """How many CRM records the phone index holds (deleted ones left out)."""
        with self._tx() as session:
            count = session.exec(
                select(func.count()).where(col(CrmIndexRecord.deleted).is_(False))
            ).one()
        return int(count)

    def index_for_keys(self, keys: Iterable[str]) -> list[CrmRecord]:
        """The indexed Leads and Contacts holding any of the phone ``keys``, and the Deals of
        those Contacts: every record a chunk of calls with these keys can match."""
        wanted = unique(list(keys))
        found: dict[tuple[str, str], CrmIndexRecord] = {}
        with self._tx() as session:
            for batch in chunks(wanted):
                rows = session.exec(
                    select(CrmIndexRecord)
                    .join(
                        CrmPhoneKeyRecord,
                        and_(
                            col(CrmPhoneKeyRecord.module) == col(CrmIndexRecord.module),
                            col(CrmPhoneKeyRecord.record_id) == col(CrmIndexRecord.id),
                        ),
                    )
                    .where(
                        col(CrmPhoneKeyRecord.phone_key).in_(batch),
                        col(CrmIndexRecord.deleted).is_(False),
                    )
                )
                found.update(((r.module, r.id), r) for r in rows)
            contacts = [rid for module, rid in found if module == "Contacts"]
            for batch in chunks(contacts):
                deals = session.exec(
                    select(CrmIndexRecord).where(
                        CrmIndexRecord.module == "Deals",
                        col(CrmIndexRecord.contact_id).in_(batch),
                        col(CrmIndexRecord.deleted).is_(False),
                    )
                )
                found.update(((r.module, r.id), r) for r in deals)
        return [_record(r) for r in found.values()]

    # -- users ---------------------------------------------------------------------------

    def save_users(self, users: Iterable[ZohoUser], *, api_user_id: str | None = None) -> None:
        """Remember Zoho users (names for the reports); users not seen now are kept, inactive.
        ``api_user_id`` marks the user callsync's token acts as (kept when not given)."""
        seen = {u.id: u for u in users}
        with self._tx() as session:
            for row in session.exec(select(UserRecord)).all():
                changed = False
                if row.id not in seen and row.active:
                    row.active, changed = False, True
                if api_user_id is not None and row.api_user and row.id != api_user_id:
                    row.api_user, changed = False, True
                if changed:
                    session.add(row)
            for user in seen.values():
                row = session.get(UserRecord, user.id) or UserRecord(
                    id=user.id, email=user.email, full_name=user.full_name
                )
                row.email, row.full_name = user.email, user.full_name
                row.active, row.role = user.active, user.role
                if api_user_id is not None and user.id == api_user_id:
                    row.api_user = True
                session.add(row)

    def api_user_id(self) -> str | None:
        """The Zoho user callsync's token acts as, once a run has asked Zoho."""
        with self._tx() as session:
            return session.exec(
                select(UserRecord.id).where(col(UserRecord.api_user).is_(True)).limit(1)
            ).first()

    # -- Zoho metadata kept between runs ---------------------------------------------------

    def cache_get(self, name: str, max_age: timedelta) -> Any | None:
        """The value kept under ``name`` when it was fetched less than ``max_age`` ago."""
        with self._tx() as session:
            rec = session.get(OrgCacheRecord, name)
        if rec is None or self._now() - rec.fetched_at >= max_age:
            return None
        return json.loads(rec.value_json)

    def cache_put(self, name: str, value: Any) -> None:
        """Keep ``value`` (JSON-serializable) under ``name``, fetched now."""
        now = self._now()
        with self._tx() as session:
            rec = session.get(OrgCacheRecord, name) or OrgCacheRecord(
                name=name, value_json="null", fetched_at=now
            )
            rec.value_json, rec.fetched_at = to_json(value), now
            session.add(rec)

    # -- runs ------------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        flow: str,
        window_start: datetime | None,
        window_end: datetime | None,
    ) -> None:
        """Record a run's start (a retried run with the same id starts again)."""
        now = self._now()
        with self._tx() as session:
            rec = session.get(RunRecord, run_id)
            if rec is None:
                rec = RunRecord(run_id=run_id, flow=flow, started_at=now)
            rec.flow = flow
            rec.started_at = now
            rec.finished_at = None
            rec.window_start = window_start
            rec.window_end = window_end
            rec.status = "running"
            session.add(rec)

    def finish_run(self, run_id: str, status: str, summary: Mapping[str, Any]) -> None:
        now = self._now()
        with self._tx() as session:
            rec = session.get(RunRecord, run_id)
            if rec is None:
                raise ValueError(f"no run {run_id!r} was started")
            rec.finished_at = now
            rec.status = status
            rec.summary_json = to_json(dict(summary))
            session.add(rec)

    def fail_run(self, run_id: str, flow: str, error: str) -> None:
        """Record that a run failed, with its one-line reason (a run that failed before it
        started gets its row here; one that stopped itself keeps its own status)."""
        now = self._now()
        with self._tx() as session:
            rec = session.get(RunRecord, run_id)
            if rec is None:
                rec = RunRecord(run_id=run_id, flow=flow, started_at=now)
            elif rec.status != "running":
                return
            summary = {**json.loads(rec.summary_json or "{}"), "error": error}
            rec.finished_at, rec.status, rec.summary_json = now, "failed", to_json(summary)
            session.add(rec)

    def run(self, run_id: str) -> RunRecord | None:
        with self._tx() as session:
            return session.get(RunRecord, run_id)
