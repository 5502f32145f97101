"""The write ledger (``crm_writes``): intent before the request, Zoho's answer after it.

One row per ``rs_sync_key``. ``pending`` means the intent was recorded and no answer is known
(the request may or may not have reached Zoho: re-sending is safe because the key is unique in
Zoho, which answers ``DUPLICATE_DATA`` with the existing id). ``success`` is final: no later
intent or result downgrades it, so a success is never sent again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, insert, update
from sqlmodel import Session, col, select

from models.plan import PlannedWrite
from models.tables import CallRecord, CrmIndexRecord, WriteRecord
from tasks.store.base import StoreBase, chunks, unique, values_by_key
from tasks.store.callbacks import apply_notes
from tasks.store.claims import release
from tasks.store.results import RebuiltWrite, WriteOutcome
from tasks.store.rows import to_json
from tasks.store.state import upsert_index

SUCCESS = "success"
ACTIVITY_MODULES = ("Tasks", "Calls")
INDEX_MODULES = ("Leads", "Contacts", "Deals")


def _merge_utm_updates(session: Session, keys: Sequence[str], *, now: datetime) -> None:
    """The UTM values of successful ``utm`` updates, merged into their indexed records."""
    if not keys:
        return
    updates = [
        w
        for batch in chunks(unique(list(keys)))
        for w in session.exec(
            select(WriteRecord).where(
                col(WriteRecord.sync_key).in_(batch),
                WriteRecord.kind == "utm",
                WriteRecord.op == "update",
            )
        )
    ]
    for write in updates:
        if write.target_id is None:
            continue
        row = session.get(CrmIndexRecord, (write.module, write.target_id))
        if row is None:
            continue
        fields = json.loads(write.payload_json).get("fields") or {}
        utm = {**json.loads(row.utm_json or "{}"), **{k: str(v) for k, v in fields.items()}}
        row.utm_json = to_json(utm)
        row.updated_at = now
        session.add(row)


def _load_writes(session: Session, keys: Iterable[str]) -> dict[str, WriteRecord]:
    found: dict[str, WriteRecord] = {}
    for batch in chunks(unique(list(keys))):
        rows = session.exec(select(WriteRecord).where(col(WriteRecord.sync_key).in_(batch)))
        found.update((rec.sync_key, rec) for rec in rows)
    return found


def _statuses(session: Session, keys: Iterable[str]) -> dict[str, tuple[str, int]]:
    """sync_key -> (status, attempts) of the keys in the ledger."""
    columns = [WriteRecord.status, WriteRecord.attempts]
    found = values_by_key(session, WriteRecord.sync_key, columns, keys)
    return {key: (status, attempts) for key, (status, attempts) in found.items()}


def _update_by_key(sample: Mapping[str, Any]) -> Update:
    """``UPDATE crm_writes SET <sample's columns> WHERE sync_key = :b_key`` for executemany."""
    columns: dict[str, Any] = {name: bindparam(name) for name in sample if name != "b_key"}
    return (
        update(WriteRecord).where(col(WriteRecord.sync_key) == bindparam("b_key")).values(columns)
    )


def payload_json(write: PlannedWrite) -> str:
    """What the ledger keeps of a planned write: its fields and its unresolved links."""
    return to_json({"fields": dict(write.fields), "links": dict(write.links)})


class LedgerMixin(StoreBase):
    """The ``crm_writes`` table."""

    def ledger(self, keys: Iterable[str]) -> dict[str, WriteRecord]:
        """The ledger rows of these sync keys (absent keys are left out)."""
        with self._tx() as session:
            return _load_writes(session, keys)

    def record_intent(self, writes: Sequence[tuple[str, PlannedWrite]]) -> None:
        """Before any request: each (uniqueid, write) becomes ``pending`` with attempts + 1.

        A write already ``success`` is left alone.
        """
        now = self._now()
        latest = {w.sync_key: (uid, w) for uid, w in writes}
        with self._tx() as session:
            known = _statuses(session, latest)
            fresh: list[dict[str, Any]] = []
            again: list[dict[str, Any]] = []
            for key, (uid, write) in latest.items():
                values = {
                    "uniqueid": uid,
                    "module": write.module,
                    "op": write.op,
                    "kind": write.kind,
                    "owner_id": write.owner_id,
                    "target_id": write.record_id,
                    "status": "pending",
                    "error_code": None,
                    "error_message": None,
                    "payload_json": payload_json(write),
                    "updated_at": now,
                }
                if key not in known:
                    fresh.append({**values, "sync_key": key, "attempts": 1, "created_at": now})
                elif known[key][0] != SUCCESS:
                    again.append({**values, "b_key": key, "attempts": known[key][1] + 1})
            # Core executemany: ORM objects cost about a millisecond each at batch sizes.
            conn = session.connection()
            if fresh:
                conn.execute(insert(WriteRecord), fresh)
            if again:
                conn.execute(_update_by_key(again[0]), again)

    def record_results(self, outcomes: Sequence[WriteOutcome]) -> None:
        """Zoho's answers: the Zoho id of a success, the code and message of a rejection, or
        ``blocked`` (``dependency_failed``) for a write whose lead could not be created.

        The phone index learns from the same transaction: a success's ``learned`` record is
        upserted, and a successful UTM update's values are merged into its record, so the index
        follows callsync's own writes without listing them back from Zoho. In the same
        transaction a lead's phone claim is released (whoever claims the number next finds the
        lead in the index) and the call-back table follows the call-back writes."""
        now = self._now()
        for outcome in outcomes:
            if outcome.status == SUCCESS and not outcome.zoho_id:
                raise ValueError(f"success without a Zoho id for {outcome.sync_key}")
        with self._tx() as session:
            known = _statuses(session, (o.sync_key for o in outcomes))
            unknown = sorted({o.sync_key for o in outcomes} - set(known))
            if unknown:
                raise ValueError(f"results for writes with no recorded intent: {unknown[:5]}")
            rows: dict[str, dict[str, Any]] = {}
            for outcome in outcomes:
                if known[outcome.sync_key][0] == SUCCESS and outcome.status != SUCCESS:
                    continue  # never downgrade: the record exists in Zoho
                row = {
                    "b_key": outcome.sync_key,
                    "status": outcome.status,
                    "error_code": outcome.code,
                    "error_message": outcome.message,
                    "updated_at": now,
                }
                if outcome.status == SUCCESS:
                    row["zoho_id"] = outcome.zoho_id
                    known[outcome.sync_key] = (SUCCESS, known[outcome.sync_key][1])
                rows[outcome.sync_key] = row
            conn = session.connection()
            # One statement per row shape (with or without a Zoho id).
            for shape in {tuple(sorted(r)) for r in rows.values()}:
                batch = [r for r in rows.values() if tuple(sorted(r)) == shape]
                conn.execute(_update_by_key(batch[0]), batch)
            learned = [o.learned for o in outcomes if o.status == SUCCESS and o.learned]
            if learned:
                upsert_index(session, learned, now=now)
            utm = [o.sync_key for o in outcomes if o.status == SUCCESS and "/utm-" in o.sync_key]
            _merge_utm_updates(session, utm, now=now)
            release(session, [o.sync_key for o in outcomes if o.status in (SUCCESS, "failed")])
            notes = [
                (o.callback, o.zoho_id)
                for o in outcomes
                if o.status == SUCCESS and o.callback is not None and o.zoho_id
            ]
            if notes:
                apply_notes(session, notes, now)

    def synced_writes(self, uniqueid: str) -> list[tuple[str, str, str]]:
        """(sync_key, module, zoho_id) of the call's Task and Call records that exist in Zoho:
        what a late recording must update."""
        with self._tx() as session:
            rows = session.exec(
                select(WriteRecord)
                .where(
                    WriteRecord.uniqueid == uniqueid,
                    WriteRecord.status == SUCCESS,
                    WriteRecord.op == "insert",
                    col(WriteRecord.module).in_(ACTIVITY_MODULES),
                )
                .order_by(col(WriteRecord.sync_key))
            ).all()
        return [(r.sync_key, r.module, r.zoho_id) for r in rows if r.zoho_id]

    def created_keys(self, modules: Sequence[str]) -> dict[str, str]:
        """Zoho id → sync key of the records callsync inserted into ``modules`` (successes):
        the records each call created itself."""
        with self._tx() as session:
            rows = session.exec(
                select(WriteRecord.zoho_id, WriteRecord.sync_key).where(
                    col(WriteRecord.module).in_(list(modules)),
                    WriteRecord.op == "insert",
                    WriteRecord.status == SUCCESS,
                )
            ).all()
        return {zid: key for zid, key in rows if zid}

    def created_keys_for(self, zoho_ids: Iterable[str]) -> dict[str, str]:
        """Zoho id → sync key of the records among ``zoho_ids`` that callsync inserted (any
        index module): which of a chunk's candidate records a call created itself."""
        out: dict[str, str] = {}
        with self._tx() as session:
            for batch in chunks(unique(list(zoho_ids))):
                rows = session.exec(
                    select(WriteRecord.zoho_id, WriteRecord.sync_key).where(
                        col(WriteRecord.zoho_id).in_(batch),
                        col(WriteRecord.module).in_(INDEX_MODULES),
                        WriteRecord.op == "insert",
                        WriteRecord.status == SUCCESS,
                    )
                )
                out.update((zid, key) for zid, key in rows if zid)
        return out

    def ledger_empty(self) -> bool:
        """Whether this store has never recorded a write (a new store, or one that was lost)."""
        with self._tx() as session:
            return session.exec(select(WriteRecord.sync_key).limit(1)).first() is None

    def rebuild_ledger(self, writes: Sequence[RebuiltWrite]) -> int:
        """Record writes found in Zoho (records carrying an ``rs_sync_key``) as ``success``, marked
        ``rebuilt``; keys the ledger holds already are left alone. Returns how many were added."""
        now = self._now()
        latest = {w.sync_key: w for w in writes}
        with self._tx() as session:
            known = _statuses(session, latest)
            fresh = [
                {
                    "sync_key": w.sync_key,
                    "uniqueid": w.sync_key.rpartition("/")[0] or w.sync_key,
                    "module": w.module,
                    "op": "insert",
                    "kind": w.kind,
                    "owner_id": w.owner_id,
                    "target_id": None,
                    "zoho_id": w.zoho_id,
                    "status": SUCCESS,
                    "attempts": 0,
                    "error_code": None,
                    "error_message": None,
                    "payload_json": "{}",
                    "created_at": now,
                    "updated_at": now,
                    "rebuilt": True,
                }
                for key, w in latest.items()
                if key not in known
            ]
            if fresh:
                session.connection().execute(insert(WriteRecord), fresh)
        return len(fresh)

    def rebuilt_creators(self, zoho_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Zoho id → (``calldate``, uniqueid) of the call that created the record, for records
        whose ledger row was rebuilt from Zoho and whose call this store holds: where that call
        comes in a replayed window."""
        found: dict[str, tuple[str, str]] = {}
        with self._tx() as session:
            for batch in chunks(unique(list(zoho_ids))):
                rows = session.exec(
                    select(WriteRecord.zoho_id, CallRecord.calldate, CallRecord.uniqueid)
                    .join(CallRecord, col(CallRecord.uniqueid) == col(WriteRecord.uniqueid))
                    .where(
                        col(WriteRecord.zoho_id).in_(batch),
                        col(WriteRecord.rebuilt).is_(True),
                    )
                )
                found.update((zid, (calldate or "", uid)) for zid, calldate, uid in rows if zid)
        return found

    def created_ids(self, module: str) -> list[str]:
        """Zoho ids of the records callsync inserted into ``module`` (successful inserts)."""
        with self._tx() as session:
            rows = session.exec(
                select(WriteRecord.zoho_id)
                .where(
                    WriteRecord.module == module,
                    WriteRecord.op == "insert",
                    WriteRecord.status == SUCCESS,
                )
                .order_by(col(WriteRecord.sync_key))
            ).all()
        return [zid for zid in rows if zid]
