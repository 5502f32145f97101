"""Calls in the state store: ingest of raw rows, the work set, statuses, quarantine and requeue.

Status transitions (SPEC sections 9 and 10)::

    new row ─────────────────────────────> pending
    changed row, call pending / deferred / quarantined / skipped / failed ──> pending
    changed row, call synced ──> synced (raw row updated; a new recording is reported; other
                                 content is reported as changed_after_sync, not re-planned)
    unchanged row ──> no change
    record_unprocessable ──> quarantined | skipped | deferred
    quarantine_calls ──> quarantined
    record_calls: plan planned ──> pending, skipped ──> skipped, deferred ──> deferred
    finish_calls ──> synced | failed
    requeue: quarantined | failed ──> pending

A ``synced`` call is never moved back by a planner or a validation step: its records exist in
Zoho. Only new data (a changed row) or ``finish_calls`` changes what happened to it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, update
from sqlmodel import Session, col, select

from models.call import Call, Unprocessable
from models.plan import CallPlan, CallStatus, PlanStatus, Reason
from models.tables import CallRecord, QuarantineRecord, WriteRecord
from tasks.store.base import StoreBase, chunks, unique, values_by_key
from tasks.store.results import CallCount, IngestResult, RequeueResult
from tasks.store.rows import (
    call_id,
    content_changes,
    fingerprint,
    json_and_fingerprint,
    recording_changed,
    to_json,
)

log = logging.getLogger(__name__)

WORK_STATUSES = (CallStatus.PENDING.value, CallStatus.DEFERRED.value)
REQUEUE_STATUSES = (CallStatus.QUARANTINED.value, CallStatus.FAILED.value)
UNPROCESSABLE_STATUSES = frozenset(
    {CallStatus.QUARANTINED.value, CallStatus.SKIPPED.value, CallStatus.DEFERRED.value}
)
_PLAN_TO_CALL = {
    PlanStatus.PLANNED: CallStatus.PENDING,
    PlanStatus.SKIPPED: CallStatus.SKIPPED,
    PlanStatus.DEFERRED: CallStatus.DEFERRED,
}


def _load_calls(session: Session, uniqueids: Iterable[str]) -> dict[str, CallRecord]:
    found: dict[str, CallRecord] = {}
    for batch in chunks(unique(list(uniqueids))):
        rows = session.exec(select(CallRecord).where(col(CallRecord.uniqueid).in_(batch)))
        found.update((rec.uniqueid, rec) for rec in rows)
    return found


def _new_call(uid: str, raw: Mapping[str, Any], now: datetime, run_id: str | None) -> CallRecord:
    data = dict(raw)
    return CallRecord(
        uniqueid=uid,
        status=CallStatus.PENDING.value,
        fingerprint=fingerprint(data),
        raw_json=to_json(data),
        calldate=_calldate(data),
        first_seen_at=now,
        updated_at=now,
        run_id=run_id,
    )


def _calldate(row: Mapping[str, Any]) -> str:
    """The work set's order key: ``calldate`` as Ringostat wrote it (fixed-width local time)."""
    return str(row.get("calldate") or "")


def _new_call_row(
    uid: str,
    data: Mapping[str, Any],
    fp: str,
    now: datetime,
    run_id: str | None,
    text: str | None = None,
) -> dict[str, Any]:
    """A new ``calls`` row as column values (for a bulk insert); ``text``: its JSON, when the
    caller has it already."""
    return {
        "uniqueid": uid,
        "status": CallStatus.PENDING.value,
        "fingerprint": fp,
        "raw_json": text if text is not None else to_json(dict(data)),
        "calldate": _calldate(data),
        "first_seen_at": now,
        "updated_at": now,
        "run_id": run_id,
        "ambiguous": False,
        "attempts": 0,
    }


def _quarantine(
    session: Session,
    *,
    row_hash: str,
    uniqueid: str | None,
    reason: str,
    detail: str,
    raw_json: str,
    now: datetime,
) -> bool:
    """One open quarantine entry per raw row version: a repeat updates it, never duplicates.

    True when the entry is new (not a row read again)."""
    entry = session.get(QuarantineRecord, row_hash)
    if entry is None:
        session.add(
            QuarantineRecord(
                row_hash=row_hash,
                uniqueid=uniqueid,
                reason=reason,
                detail=detail,
                raw_json=raw_json,
                created_at=now,
            )
        )
        return True
    entry.reason = reason
    entry.detail = detail
    entry.requeued_at = None
    session.add(entry)
    return False


def _close_quarantine(session: Session, uniqueids: Sequence[str], now: datetime) -> None:
    for batch in chunks(uniqueids):
        entries = session.exec(
            select(QuarantineRecord).where(
                col(QuarantineRecord.uniqueid).in_(batch),
                col(QuarantineRecord.requeued_at).is_(None),
            )
        )
        for entry in entries:
            entry.requeued_at = now
            session.add(entry)


def _fingerprints(session: Session, uniqueids: Iterable[str]) -> dict[str, str]:
    """uniqueid -> fingerprint of the stored calls among ``uniqueids``."""
    found = values_by_key(session, CallRecord.uniqueid, [CallRecord.fingerprint], uniqueids)
    return {uid: fp for uid, (fp,) in found.items()}


def _call_states(session: Session, uniqueids: Iterable[str]) -> dict[str, tuple[str, int]]:
    """uniqueid -> (status, attempts) of the stored calls among ``uniqueids``."""
    columns = [CallRecord.status, CallRecord.attempts]
    found = values_by_key(session, CallRecord.uniqueid, columns, uniqueids)
    return {uid: (status, attempts) for uid, (status, attempts) in found.items()}


def _update_calls(session: Session, changes: Sequence[Mapping[str, Any]]) -> None:
    """``UPDATE calls SET <columns> WHERE uniqueid = :b_uid`` as executemany, one statement per
    set of columns (every parameter set of one executemany names the same columns)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for change in changes:
        groups.setdefault(tuple(sorted(change)), []).append(change)
    connection = session.connection()
    for names, rows in groups.items():
        statement = (
            update(CallRecord)
            .where(col(CallRecord.uniqueid) == bindparam("b_uid"))
            .values({name: bindparam(name) for name in names if name != "b_uid"})
        )
        connection.execute(statement, list(rows))


def _call_columns(call: Call) -> dict[str, Any]:
    """The parsed fields of a call, as ``calls`` column values."""
    return {
        "started_at": call.started_at,
        "ended_at": call.ended_at,
        "call_type": call.call_type,
        "direction": call.direction.value,
        "outcome": call.outcome.value,
        "disposition": call.disposition,
        "duration": call.duration,
        "billsec": call.billsec,
        "client_e164": call.client.e164,
        "phone_key": call.client.key,
        "employee_label": call.employee_label,
        "recording_url": call.recording_url,
        "utm_source": call.utm.source,
        "utm_medium": call.utm.medium,
        "utm_campaign": call.utm.campaign,
        "utm_term": call.utm.term,
        "utm_content": call.utm.content,
        "client_id": call.utm.client_id,
    }


def _plan_columns(plan: CallPlan, status: str, attempts: int) -> dict[str, Any]:
    """The planner's decision as ``calls`` column values; a synced call keeps its status."""
    columns: dict[str, Any] = {
        "scenario_row": plan.row,
        "client_status": plan.client_status,
        "ambiguous": plan.ambiguous,
        "employee_user_id": plan.employee_user_id,
        "attached_module": plan.attachment.module if plan.attachment else None,
        "attached_id": plan.attachment.id if plan.attachment else None,
        "attempts": attempts + 1,
    }
    if status != CallStatus.SYNCED.value:
        columns |= {
            "status": _PLAN_TO_CALL[plan.status].value,
            "reason": plan.reason,
            "detail": None,
        }
    return columns


class CallsMixin(StoreBase):
    """The ``calls`` and ``quarantine`` tables."""

    def ingest(self, rows: Sequence[Mapping[str, Any]], *, run_id: str) -> IngestResult:
        """Keep every raw row (see the transitions in the module docstring)."""
        now = self._now()
        keyed: list[tuple[str, dict[str, Any], str, str]] = []
        missing: list[tuple[dict[str, Any], str]] = []
        for row in rows:
            data = dict(row)
            uid = call_id(data)
            text, fp = json_and_fingerprint(data)
            if uid is None:
                missing.append((data, fp))
            else:
                keyed.append((uid, data, fp, text))

        new = changed = unchanged = 0
        updates: list[str] = []
        drifted: dict[str, str] = {}
        first_time = 0
        refreshed: list[str] = []
        reopened: list[str] = []
        fresh: dict[str, dict[str, Any]] = {}
        with self._tx() as session:
            # Fingerprints first; whole records (raw rows) only of the calls that changed: a
            # re-read of 100k unchanged calls must not load 100k raw rows.
            stored = _fingerprints(session, (uid for uid, _, _, _ in keyed))
            calls = _load_calls(
                session, (uid for uid, _, fp, _ in keyed if uid in stored and stored[uid] != fp)
            )
            for uid, data, fp, text in keyed:
                first = fresh.get(uid)
                if first is not None:  # the same new call twice in one batch
                    if first["fingerprint"] == fp:
                        unchanged += 1
                    else:
                        changed += 1
                        first.update(fingerprint=fp, raw_json=text)
                    continue
                if uid not in stored:
                    fresh[uid] = _new_call_row(uid, data, fp, now, run_id, text)
                    new += 1
                    continue
                if stored[uid] == fp:
                    unchanged += 1
                    continue
                rec = calls[uid]
                stored[uid] = fp
                changed += 1
                if rec.status == CallStatus.SYNCED.value:
                    refreshed.append(uid)
                    before = json.loads(rec.raw_json)
                    if recording_changed(before, data) and uid not in updates:
                        updates.append(uid)
                    fields = content_changes(before, data)
                    if fields:
                        known = (rec.changed_after_sync or "").split(",")
                        every = dict.fromkeys(f for f in [*known, *fields] if f)
                        rec.changed_after_sync = ",".join(every)
                        drifted[uid] = ",".join(fields)
                else:
                    if rec.status == CallStatus.QUARANTINED.value:
                        reopened.append(uid)
                    rec.status = CallStatus.PENDING.value
                    rec.reason = None
                    rec.detail = None
                rec.fingerprint = fp
                rec.raw_json = text
                rec.calldate = _calldate(data)
                rec.updated_at = now
                rec.run_id = run_id
                session.add(rec)
            if fresh:
                # A Core executemany: building ORM objects costs ~1 ms per call, too much for a
                # backfill of tens of thousands.
                session.connection().execute(insert(CallRecord), list(fresh.values()))
            # New data is the fix a quarantined call was waiting for: its entry is closed.
            _close_quarantine(session, unique(reopened), now)
            for data, fp in missing:
                first_time += _quarantine(
                    session,
                    row_hash=fp,
                    uniqueid=None,
                    reason=Reason.MISSING_CALL_ID.value,
                    detail="the row has no uniqueid",
                    raw_json=to_json(data),
                    now=now,
                )
                session.flush()
        return IngestResult(
            new=new,
            changed=changed,
            unchanged=unchanged,
            quarantined=len(missing),
            quarantined_new=first_time,
            recording_updates=tuple(updates),
            changed_after_sync=tuple(drifted.items()),
            refreshed=tuple(unique(refreshed)),
        )

    def work(self) -> list[dict[str, Any]]:
        """Raw rows of every call in line (see :meth:`work_chunks`), as one list."""
        return [row for chunk in self.work_chunks() for row in chunk]

    def has_work(self) -> bool:
        """Whether any call is ``pending`` or ``deferred``."""
        with self._tx() as session:
            first = session.exec(
                select(CallRecord.uniqueid)
                .where(col(CallRecord.status).in_(WORK_STATUSES))
                .limit(1)
            ).first()
        return first is not None

    def work_chunks(self, size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """Raw rows of the calls a run must (re)process — ``pending`` and ``deferred`` — in
        (``calldate``, ``uniqueid``) order, ``size`` at a time, each chunk read when asked for.

        ``calldate`` is Ringostat's fixed-width local ``YYYY-MM-DD HH:MM:SS`` text, so text order
        is time order (within the hour DST repeats once a year, the parsed order decides in the
        planner). Reading goes on after the last call of the previous chunk (a keyset), so calls
        whose status the caller changed meanwhile are neither skipped nor read twice, and memory
        holds one chunk whatever the size of the work set.
        """
        after: tuple[str, str] | None = None
        calldate = func.coalesce(CallRecord.calldate, "")
        while True:
            query = select(calldate, CallRecord.uniqueid, CallRecord.raw_json).where(
                col(CallRecord.status).in_(WORK_STATUSES)
            )
            if after is not None:
                query = query.where(
                    or_(
                        calldate > after[0],
                        and_(calldate == after[0], col(CallRecord.uniqueid) > after[1]),
                    )
                )
            query = query.order_by(calldate, col(CallRecord.uniqueid)).limit(size)
            with self._tx() as session:
                batch = session.exec(query).all()
            if not batch:
                return
            yield [json.loads(raw) for _, _, raw in batch]
            if len(batch) < size:
                return
            last = batch[-1]
            after = (str(last[0]), str(last[1]))

    def raw_row(self, uniqueid: str) -> dict[str, Any] | None:
        with self._tx() as session:
            rec = session.get(CallRecord, uniqueid)
        return None if rec is None else dict(json.loads(rec.raw_json))

    def call(self, uniqueid: str) -> CallRecord | None:
        """The stored call (detached: reading it is safe, changing it changes nothing)."""
        with self._tx() as session:
            return session.get(CallRecord, uniqueid)

    def record_unprocessable(self, items: Sequence[Unprocessable], *, run_id: str) -> None:
        """Rows not turned into a Call: quarantined (also in the quarantine table), skipped or
        deferred, with their reason. A row without ``uniqueid`` goes to quarantine only."""
        now = self._now()
        for item in items:
            if item.status not in UNPROCESSABLE_STATUSES:
                raise ValueError(
                    f"unprocessable status must be one of {sorted(UNPROCESSABLE_STATUSES)}, got {item.status!r}"
                )
        with self._tx() as session:
            calls = _load_calls(session, (i.uniqueid for i in items if i.uniqueid))
            for item in items:
                raw = dict(item.raw)
                if not item.uniqueid:
                    _quarantine(
                        session,
                        row_hash=fingerprint(raw),
                        uniqueid=None,
                        reason=item.reason,
                        detail=item.detail,
                        raw_json=to_json(raw),
                        now=now,
                    )
                    session.flush()
                    continue
                rec = calls.get(item.uniqueid)
                if rec is None:
                    rec = calls[item.uniqueid] = _new_call(item.uniqueid, raw, now, run_id)
                if rec.status == CallStatus.SYNCED.value:
                    log.warning("call %s is synced: not marking it %s", rec.uniqueid, item.status)
                    continue
                rec.status = item.status
                rec.reason = item.reason
                rec.detail = item.detail
                if item.started_at is not None:
                    rec.started_at = item.started_at
                rec.attempts += 1
                rec.updated_at = now
                rec.run_id = run_id
                session.add(rec)
                if item.status == CallStatus.QUARANTINED.value:
                    _quarantine(
                        session,
                        row_hash=rec.fingerprint,
                        uniqueid=rec.uniqueid,
                        reason=item.reason,
                        detail=item.detail,
                        raw_json=rec.raw_json,
                        now=now,
                    )
                    session.flush()

    def quarantine_calls(self, failures: Mapping[str, tuple[str, str]], *, run_id: str) -> None:
        """Quarantine stored calls: uniqueid -> (reason, detail), e.g. a failed expectation."""
        now = self._now()
        with self._tx() as session:
            calls = _load_calls(session, failures)
            unknown = sorted(set(failures) - set(calls))
            if unknown:
                raise ValueError(f"cannot quarantine calls the store does not hold: {unknown[:5]}")
            for uid, (reason, detail) in failures.items():
                rec = calls[uid]
                if rec.status == CallStatus.SYNCED.value:
                    log.warning("call %s is synced: not quarantining it (%s)", uid, reason)
                    continue
                rec.status = CallStatus.QUARANTINED.value
                rec.reason = reason
                rec.detail = detail
                rec.updated_at = now
                rec.run_id = run_id
                session.add(rec)
                _quarantine(
                    session,
                    row_hash=rec.fingerprint,
                    uniqueid=uid,
                    reason=reason,
                    detail=detail,
                    raw_json=rec.raw_json,
                    now=now,
                )
                session.flush()

    def record_calls(
        self, calls: Sequence[Call], plans: Sequence[CallPlan], *, run_id: str
    ) -> None:
        """Store the parsed fields of ``calls`` and the planner's decision for each ``plans``.

        A planned call stays ``pending`` until :meth:`finish_calls`; skipped and deferred calls
        take that status with the plan's reason.
        """
        now = self._now()
        by_call = {c.uniqueid: c for c in calls}
        by_plan = {p.uniqueid: p for p in plans}
        uids = unique([*by_call, *by_plan])
        with self._tx() as session:
            known = _call_states(session, uids)
            fresh: list[dict[str, Any]] = []
            changes: list[dict[str, Any]] = []
            for uid in uids:
                call = by_call.get(uid)
                plan = by_plan.get(uid)
                state = known.get(uid)
                if state is None:
                    if call is None:
                        raise ValueError(f"a plan for call {uid}, which the store does not hold")
                    row = _new_call_row(uid, call.raw, fingerprint(dict(call.raw)), now, run_id)
                    status, attempts = row["status"], 0
                else:
                    row = {}
                    status, attempts = state
                if call is not None:
                    row |= _call_columns(call)
                if plan is not None:
                    row |= _plan_columns(plan, status, attempts)
                row |= {"updated_at": now, "run_id": run_id}
                if state is None:
                    fresh.append(row)
                else:
                    changes.append(row | {"b_uid": uid})
            # Core statements, not ORM objects: ~1.2 M attribute sets for 20k calls otherwise.
            if fresh:
                session.connection().execute(insert(CallRecord), fresh)
            _update_calls(session, changes)

    def record_attachments(self, attached: Mapping[str, str]) -> None:
        """uniqueid -> Zoho id of the lead a call was attached to, once that lead exists (a call
        attached already keeps its record)."""
        if not attached:
            return
        now = self._now()
        with self._tx() as session:
            statement = (
                update(CallRecord)
                .where(
                    col(CallRecord.uniqueid) == bindparam("b_uid"),
                    col(CallRecord.attached_id).is_(None),
                )
                .values(attached_id=bindparam("attached"), updated_at=bindparam("now"))
            )
            session.connection().execute(
                statement,
                [{"b_uid": uid, "attached": zid, "now": now} for uid, zid in attached.items()],
            )

    def finish_calls(self, statuses: Mapping[str, tuple[CallStatus, str | None]]) -> None:
        """Final statuses after the writes: ``synced`` (sets ``synced_at``) or ``failed`` with
        the first error code as reason and that write's message as detail."""
        now = self._now()
        with self._tx() as session:
            known = _call_states(session, statuses)
            unknown = sorted(set(statuses) - set(known))
            if unknown:
                raise ValueError(f"cannot finish calls the store does not hold: {unknown[:5]}")
            problems = self._write_problems(
                session, [uid for uid, (st, _) in statuses.items() if st != CallStatus.SYNCED]
            )
            changes: list[dict[str, Any]] = []
            for uid, (status, reason) in statuses.items():
                value = CallStatus(status).value
                row: dict[str, Any] = {
                    "b_uid": uid,
                    "status": value,
                    "reason": reason,
                    "updated_at": now,
                }
                if value == CallStatus.SYNCED.value:
                    row |= {"synced_at": now, "detail": None}
                else:
                    row["detail"] = next(
                        (text for code, text in problems.get(uid, []) if code == reason),
                        None,
                    )
                changes.append(row)
            _update_calls(session, changes)

    @staticmethod
    def _write_problems(
        session: Session, uniqueids: Sequence[str]
    ) -> dict[str, list[tuple[str | None, str]]]:
        found: dict[str, list[tuple[str | None, str]]] = {}
        for batch in chunks(uniqueids):
            writes = session.exec(
                select(WriteRecord)
                .where(
                    col(WriteRecord.uniqueid).in_(batch),
                    col(WriteRecord.status).in_(("failed", "blocked")),
                )
                .order_by(col(WriteRecord.sync_key))
            )
            for w in writes:
                text = f"{w.sync_key}: {w.error_message or w.error_code}"
                found.setdefault(w.uniqueid, []).append((w.error_code, text))
        return found

    def requeue(self, *, reason: str | None = None) -> RequeueResult:
        """Quarantined and failed calls (only those with ``reason`` if given) back to pending."""
        now = self._now()
        with self._tx() as session:
            query = select(CallRecord).where(col(CallRecord.status).in_(REQUEUE_STATUSES))
            if reason is not None:
                query = query.where(CallRecord.reason == reason)
            recs = session.exec(query).all()
            for rec in recs:
                rec.status = CallStatus.PENDING.value
                rec.reason = None
                rec.detail = None
                rec.updated_at = now
                session.add(rec)
            requeued = {rec.uniqueid for rec in recs}

            entries_query = select(QuarantineRecord).where(
                col(QuarantineRecord.requeued_at).is_(None)
            )
            if reason is not None:
                entries_query = entries_query.where(QuarantineRecord.reason == reason)
            without_id = 0
            for entry in session.exec(entries_query):
                if entry.uniqueid is None:
                    without_id += 1
                elif entry.uniqueid in requeued:
                    entry.requeued_at = now
                    session.add(entry)
        return RequeueResult(requeued=len(requeued), without_call_id=without_id)

    def call_counts(self, run_id: str | None = None) -> list[CallCount]:
        """How many calls per (status, reason, scenario row); only those a run touched last
        when ``run_id`` is given."""
        query = select(
            CallRecord.status, CallRecord.reason, CallRecord.scenario_row, func.count()
        ).group_by(col(CallRecord.status), col(CallRecord.reason), col(CallRecord.scenario_row))
        if run_id is not None:
            query = query.where(CallRecord.run_id == run_id)
        with self._tx() as session:
            rows = session.exec(query).all()
        counts = [CallCount(status, reason, row, int(n)) for status, reason, row, n in rows]
        counts.sort(key=lambda c: (c.status, c.reason or "", c.scenario_row or 0))
        return counts
