"""Call-back tasks (``callbacks``): the open call-back of each client, and how each one ended.

A row is written when Zoho accepted the insert of a call-back task (matrix rows 6–9), in the
transaction that records that answer in the ledger (:func:`apply_notes`, called by
:meth:`tasks.store.ledger.LedgerMixin.record_results`); later missed calls merged into the task,
and the call that completed it, change the row the same way. So the two paths (log sync,
webhook receiver) and every chunk of a run see the same open call-backs.

A person may complete (or delete) a task in Zoho by hand: before a chunk's calls are planned,
the open call-backs of its callers are read again from Zoho (one COQL query per 50 tasks, only
for callers who have one) and :meth:`CallbacksMixin.apply_task_states` brings the rows up to date
— the current description is what the next line is appended to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from models.call import Phone
from models.crm import OpenCallback, ReachedCall
from models.plan import CallbackNote
from models.tables import CallbackRecord, CallRecord
from tasks.phones import normalize
from tasks.store.base import StoreBase, chunks, stored_phone, unique

OPEN = "open"
COMPLETED = "completed"
GONE = "gone"
COMPLETED_STATUS = "Completed"
_CALLS: Table = cast(Any, CallRecord).__table__
ANSWERED_PER_KEY = 20
"""Answered calls read per client for the out-of-order rule: far more than a day's worth."""
"""Zoho's Task status of a finished task."""


@dataclass(frozen=True, slots=True)
class TaskState:
    """A call-back task as Zoho shows it now."""

    task_id: str
    status: str
    description: str
    closed_at: datetime | None = None
    modified_by: str | None = None


def _client(key: str, e164: str | None) -> Phone:
    """A stored call's client as the country guard reads it."""
    phone = normalize(e164, region="UA", match_digits=len(key)) if e164 else None
    if phone is not None and phone.key == key:
        return phone
    return Phone(raw=e164 or key, e164=e164 or key, key=key, country_code=None, valid=False)


def _open(row: CallbackRecord) -> OpenCallback:
    return OpenCallback(
        phone=stored_phone(row),
        task_key=row.task_key,
        task_id=row.task_id,
        owner_id=row.owner_id,
        description=row.description,
        calls=row.calls,
        opened_at=row.opened_at,
    )


def apply_notes(session: Session, notes: Sequence[tuple[CallbackNote, str]], now: datetime) -> None:
    """Follow what accepted writes did to call-back tasks: (note, the task's Zoho id)."""
    rows: dict[str, CallbackRecord] = {}
    for batch in chunks(unique([note.task_key for note, _ in notes])):
        found = session.exec(
            select(CallbackRecord).where(col(CallbackRecord.task_key).in_(batch))
        ).all()
        rows.update((r.task_key, r) for r in found)
    for note, zoho_id in notes:
        row = rows.get(note.task_key)
        if note.action == "open":
            if row is not None:
                continue  # a repeated answer (a rerun): the row already follows the task
            reached = note.reached_call is not None
            rows[note.task_key] = row = CallbackRecord(
                task_key=note.task_key,
                uniqueid=note.uniqueid,
                phone_key=note.phone.key,
                e164=note.phone.e164,
                country_code=note.phone.country_code,
                valid=note.phone.valid,
                task_id=zoho_id,
                owner_id=note.owner_id,
                status=COMPLETED if reached else OPEN,
                calls=1,
                description=note.description,
                opened_at=note.at,
                last_call_at=note.at,
                closed_at=note.reached_at if reached else None,
                closed_by=note.by_user_id if reached else None,
                closed_by_name=note.by_name if reached else None,
                closed_call=note.reached_call,
                updated_at=now,
            )
            session.add(row)
            continue
        if row is None:
            continue  # a task this store never saw opened (a rebuilt store): nothing to follow
        row.description = note.description
        row.updated_at = now
        if note.action == "merge":
            row.calls += 1
            row.last_call_at = max(row.last_call_at, note.at)
        elif note.action == "complete":
            row.status = COMPLETED
            row.closed_at = note.at
            row.closed_by = note.by_user_id
            row.closed_by_name = note.by_name
            row.closed_call = note.uniqueid
        session.add(row)


class CallbacksMixin(StoreBase):
    """The ``callbacks`` table (see the module docstring)."""

    def open_callbacks(self, keys: Iterable[str]) -> list[OpenCallback]:
        """The open call-back tasks of the callers with these phone keys."""
        with self._tx() as session:
            return [_open(r) for r in self._rows(session, keys, OPEN)]

    @staticmethod
    def _rows(session: Session, keys: Iterable[str], status: str) -> list[CallbackRecord]:
        rows: list[CallbackRecord] = []
        for batch in chunks(unique(list(keys))):
            rows.extend(
                session.exec(
                    select(CallbackRecord)
                    .where(
                        col(CallbackRecord.phone_key).in_(batch),
                        CallbackRecord.status == status,
                    )
                    .order_by(col(CallbackRecord.opened_at), col(CallbackRecord.task_key))
                ).all()
            )
        return rows

    def apply_task_states(
        self, seen: Sequence[TaskState], missing: Iterable[str] = (), *, names: Mapping[str, str]
    ) -> int:
        """What Zoho showed of open call-back tasks: a ``Completed`` one is completed (by the
        person who last edited it, at Zoho's ``Closed_Time``), another keeps its current
        description; ``missing`` ids were deleted in Zoho. ``names``: user id → name. Returns
        how many were found closed or gone."""
        now = self._now()
        closed = 0
        with self._tx() as session:
            by_id = {s.task_id: s for s in seen}
            ids = [*by_id, *missing]
            for batch in chunks(unique(ids)):
                rows = session.exec(
                    select(CallbackRecord).where(
                        col(CallbackRecord.task_id).in_(batch), CallbackRecord.status == OPEN
                    )
                ).all()
                for row in rows:
                    state = by_id.get(row.task_id or "")
                    row.checked_at = now
                    row.updated_at = now
                    if state is None:
                        row.status = GONE
                        row.closed_at = now
                        closed += 1
                    elif state.status == COMPLETED_STATUS:
                        row.status = COMPLETED
                        row.closed_at = state.closed_at or now
                        row.closed_by = state.modified_by
                        row.closed_by_name = names.get(state.modified_by or "")
                        row.description = state.description
                        closed += 1
                    else:
                        row.description = state.description
                    session.add(row)
        return closed

    def answered_calls(
        self,
        keys: Iterable[str],
        *,
        since: datetime | None = None,
        per_key: int = ANSWERED_PER_KEY,
    ) -> list[ReachedCall]:
        """The newest answered calls (either direction) callsync has synced for these phone
        keys, started after ``since`` when given, ``per_key`` at most each: a missed call
        handled after one of them (out of order) finds its client already reached."""
        out: list[ReachedCall] = []
        with self._tx() as session:
            for batch in chunks(unique(list(keys))):
                t = _CALLS.c
                query = (
                    sa_select(
                        t.uniqueid,
                        t.phone_key,
                        t.client_e164,
                        t.started_at,
                        t.employee_user_id,
                        t.employee_label,
                    )
                    .where(
                        t.phone_key.in_(batch),
                        t.outcome == "answered",
                        t.direction.in_(("inbound", "outbound")),
                        t.status == "synced",
                        *([t.started_at > since] if since is not None else []),
                    )
                    .order_by(t.started_at.desc())
                )
                rows = session.connection().execute(query).all()
                taken: dict[str, int] = {}
                for uid, key, e164, started, employee, label in rows:
                    if not key or started is None or taken.get(key, 0) >= per_key:
                        continue
                    taken[key] = taken.get(key, 0) + 1
                    out.append(ReachedCall(_client(key, e164), uid, started, employee, label))
        return out

    def callback_rows(self) -> list[CallbackRecord]:
        """Every call-back row (reports, tests)."""
        with self._tx() as session:
            return list(
                session.exec(select(CallbackRecord).order_by(col(CallbackRecord.opened_at))).all()
            )

    def callbacks_by_task_key(self, task_keys: Iterable[str]) -> dict[str, CallbackRecord]:
        """The call-back rows of these task inserts' sync keys."""
        out: dict[str, CallbackRecord] = {}
        with self._tx() as session:
            for batch in chunks(unique(list(task_keys))):
                for row in session.exec(
                    select(CallbackRecord).where(col(CallbackRecord.task_key).in_(batch))
                ):
                    out[row.task_key] = row
        return out

    def callbacks_by_task_id(self, task_ids: Iterable[str]) -> dict[str, CallbackRecord]:
        """The call-back rows of these Zoho task ids."""
        out: dict[str, CallbackRecord] = {}
        with self._tx() as session:
            for batch in chunks(unique(list(task_ids))):
                for row in session.exec(
                    select(CallbackRecord).where(col(CallbackRecord.task_id).in_(batch))
                ):
                    if row.task_id:
                        out[row.task_id] = row
        return out
