"""The write ledger (``crm_writes``): intent before the request, Zoho's answer after it.

One row per ``rs_sync_key``. ``pending`` means the intent was recorded and no answer is known
(the request may or may not have reached Zoho: re-sending is safe because the key is unique in
Zoho, which answers ``DUPLICATE_DATA`` with the existing id). ``success`` is final: no later
intent or result downgrades it, so a success is never sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from models.plan import PlannedWrite
from models.tables import WriteRecord
from tasks.store.base import StoreBase, chunks, unique
from tasks.store.results import WriteOutcome
from tasks.store.rows import to_json

SUCCESS = "success"
ACTIVITY_MODULES = ("Tasks", "Calls")


def _load_writes(session: Session, keys: Iterable[str]) -> dict[str, WriteRecord]:
    found: dict[str, WriteRecord] = {}
    for batch in chunks(unique(list(keys))):
        rows = session.exec(select(WriteRecord).where(col(WriteRecord.sync_key).in_(batch)))
        found.update((rec.sync_key, rec) for rec in rows)
    return found


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
        with self._tx() as session:
            existing = _load_writes(session, (w.sync_key for _, w in writes))
            for uid, write in writes:
                rec = existing.get(write.sync_key)
                if rec is None:
                    rec = WriteRecord(
                        sync_key=write.sync_key,
                        uniqueid=uid,
                        module=write.module,
                        op=write.op,
                        kind=write.kind,
                        status="pending",
                        payload_json="{}",
                        created_at=now,
                        updated_at=now,
                    )
                    existing[write.sync_key] = rec
                elif rec.status == SUCCESS:
                    continue
                rec.uniqueid = uid
                rec.module = write.module
                rec.op = write.op
                rec.kind = write.kind
                rec.owner_id = write.owner_id
                rec.target_id = write.record_id
                rec.status = "pending"
                rec.attempts += 1
                rec.error_code = None
                rec.error_message = None
                rec.payload_json = payload_json(write)
                rec.updated_at = now
                session.add(rec)

    def record_results(self, outcomes: Sequence[WriteOutcome]) -> None:
        """Zoho's answers: the Zoho id of a success, the code and message of a rejection, or
        ``blocked`` (``dependency_failed``) for a write whose lead could not be created."""
        now = self._now()
        with self._tx() as session:
            existing = _load_writes(session, (o.sync_key for o in outcomes))
            unknown = sorted({o.sync_key for o in outcomes} - set(existing))
            if unknown:
                raise ValueError(f"results for writes with no recorded intent: {unknown[:5]}")
            for outcome in outcomes:
                rec = existing[outcome.sync_key]
                if rec.status == SUCCESS and outcome.status != SUCCESS:
                    continue  # never downgrade: the record exists in Zoho
                if outcome.status == SUCCESS and not outcome.zoho_id:
                    raise ValueError(f"success without a Zoho id for {outcome.sync_key}")
                rec.status = outcome.status
                rec.zoho_id = outcome.zoho_id if outcome.status == SUCCESS else rec.zoho_id
                rec.error_code = outcome.code
                rec.error_message = outcome.message
                rec.updated_at = now
                session.add(rec)

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
