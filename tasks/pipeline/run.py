"""The pipeline: the stage sequence of a sync, written once, streamed chunk by chunk.

A window (``sync``)::

    users and TOP manager (fail before writing anything) → finish the webhook inbox →
    read the call log page by page, each page ingested as it arrives → refresh the phone index
    (only when there is work) → for each chunk of the calls in line, in (calldate, uniqueid)
    order: parse → check phones → re-read the callers' open call-backs → plan (claiming the
    numbers it creates leads for) → record → check plans → write → (next chunk) →
    late recordings → finish: cursor, after-write steps, the run's record.

A chunk (``process``) is also what the webhook receiver runs for after-call events, and
``pickup_leads`` its subset for the lead at pickup: the same stages, the same ledger, the same
summary type. Everything the sequence needs is given to it: the run's context (store, clients),
the checks (Great Expectations in the flows), how a stage is run (plainly, or as a Prefect task
of the stage's name: :mod:`tasks.steps`), a logger, a guard called before every batch of Zoho
writes (the run lease's fencing check) and the steps after the writes.

Memory stays flat in the window's size: a Ringostat page at a time is read and ingested, a chunk
at a time is planned and written (the phone index is read per chunk from the store), and what
carries from one chunk to the next is only what the in-run rules need (leads planned but not
yet written, :class:`~tasks.scenario.PlannerMemory`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from models.call import Call, Unprocessable
from models.plan import CallPlan, PlannedWrite, PlanStatus, Reason
from tasks.pipeline.checks import NO_CHECKS, CheckResult, Checks
from tasks.pipeline.context import RunContext
from tasks.pipeline.crm import CrmView, People, StoredCrm
from tasks.pipeline.stages import STAGES, Ingested
from tasks.pipeline.summary import CHANGED_AFTER_SYNC, CREDITS_EXHAUSTED, RunSummary
from tasks.pipeline.webhooks import Emit, finish_inbox
from tasks.ringostat.cursor import IngestCursor, Window, advance, plan_window
from tasks.scenario import PlannerMemory
from tasks.store.base import chunks
from tasks.zoho.errors import CreditsExhausted
from tasks.zoho.index import IndexDelta
from tasks.zoho.writer import WriteReport

CURSOR_NAME = "ringostat:calls"
CHUNK_SIZE = 5000
"""Calls planned and written together: large enough that a chunk's fixed costs (a Prefect task
run per stage, a GX validation, the index lookup) stay small per call, small enough that memory
does not depend on the window."""

Log = logging.Logger | logging.LoggerAdapter[Any]


class StageRunner(Protocol):
    """Runs the stage named ``name`` with ``args`` (plainly, or as a Prefect task)."""

    def __call__(self, name: str, /, *args: Any) -> Awaitable[Any]: ...


async def run_plainly(name: str, /, *args: Any) -> Any:
    """The stage itself, no wrapper: what runs outside the flows."""
    result = STAGES[name](*args)
    if inspect.isawaitable(result):
        result = await result
    return result


AfterWrite = Callable[[RunSummary], Any]
"""A step after the writes (Data Docs, the DuckDB landing, artifacts): it gets the run's summary
so far; what it returns (or awaits to) is kept as text by name (``data_docs``, ``duckdb``)."""


@dataclass
class Pipeline:
    """One run's pipeline: see the module docstring."""

    ctx: RunContext
    checks: Checks = NO_CHECKS
    run_stage: StageRunner = run_plainly
    log: Log = field(default_factory=lambda: logging.getLogger(__name__))
    chunk_size: int = CHUNK_SIZE
    guard: Callable[[], None] | None = None
    """Called before every batch of Zoho writes: raises when the run may not write any more."""
    after_writes: Sequence[tuple[str, AfterWrite]] = ()
    emit: Emit | None = None
    """Where each webhook event a run finishes is reported (Prefect's event feed, in flows)."""

    # -- a window ----------------------------------------------------------------------------

    async def sync(
        self, *, now: datetime, run_id: str, window: Window | None = None, land: bool = True
    ) -> RunSummary:
        """One sync run over ``window`` (default: from the cursor, with the lookback, up to now;
        with an explicit window the cursor stays). ``land=False`` leaves the after-write steps
        to a later window (a backfill runs them once, after its last)."""
        ctx, store = self.ctx, self.ctx.store
        stats = _ZohoMeter(ctx)
        people: People = await self.run_stage("load-users", ctx, True)
        self.log.info(
            "Zoho: %d active users; TOP manager is %s",
            len(people.users),
            people.top_manager.full_name or people.top_manager.id,
        )
        if store.ledger_empty():  # a new store, or a lost one: what does Zoho hold already?
            await self.run_stage("rebuild-ledger", ctx)
        cursor_pos = store.get_cursor(CURSOR_NAME)
        explicit = window is not None
        if window is None:
            settings = ctx.settings
            window = plan_window(
                IngestCursor(cursor_pos) if cursor_pos else None,
                run_started_at=now,
                lookback=timedelta(minutes=settings.ringostat.lookback_minutes),
                initial_start=now - timedelta(hours=settings.ringostat.initial_lookback_hours),
            )
        summary = RunSummary(run_id, window.start.isoformat(), window.end.isoformat())
        summary.employee_problems = self._employee_problems(people)
        self.log.info("Window %s → %s", window.start.isoformat(), window.end.isoformat())
        store.start_run(run_id, "sync", window.start, window.end)
        ingested = Ingested()
        try:
            summary += await self._finish_inbox(people, now)
            ingested = await self.run_stage("read-calls", ctx, window, run_id)
            summary += self._ingest_summary(ingested)
            if store.has_work() or ingested.recording_updates:
                self.checks.prepare()
                delta: IndexDelta = await self.run_stage("refresh-phone-index", ctx, people)
                self.log.info(
                    "Phone index: %d changed, %d deleted (%s); %d CRM records",
                    len(delta.records),
                    len(delta.deleted),
                    "listed in full: " + ", ".join(delta.full_modules)
                    if delta.full_modules
                    else "changes only",
                    store.index_size(),
                )
                crm = StoredCrm(store, people)
                memory = PlannerMemory()
                for number, rows in enumerate(store.work_chunks(self.chunk_size), start=1):
                    part = await self.process(rows, crm, now=now, run_id=run_id, memory=memory)
                    summary += part
                    self.log.info(
                        "Chunk %d: %d calls, %d records written (%d calls so far)",
                        number,
                        len(rows),
                        part.written,
                        summary.processed,
                    )
                for batch in chunks(ingested.recording_updates, self.chunk_size):
                    report = await self.run_stage(
                        "update-recordings", ctx, people, batch, self.guard
                    )
                    part = _write_summary(report)
                    part.recording_updates = report.counts.get("Tasks/update/success", 0)
                    summary += part
            else:
                # The steady state of a run every minute: no Zoho reads for the phone index.
                self.log.info("No calls to process")
        except CreditsExhausted as exc:
            raise self._stop_on_spent_credits(exc, summary, stats) from exc
        for batch in chunks(ingested.refreshed, self.chunk_size):
            self._refresh_synced(batch, run_id)
        summary.zoho_requests, summary.zoho_credits = stats.used()
        summary.ringostat_requests = ingested.requests
        if not explicit:
            store.set_cursor(
                CURSOR_NAME,
                advance(
                    IngestCursor(cursor_pos) if cursor_pos else None, window, run_started_at=now
                ).position,
            )
        # The writes are committed: nothing below can fail the run. Each step rebuilds from
        # the store, so one that fails now is done again by the next run.
        if land:
            idle = not (summary.processed or summary.new_calls or summary.changed_calls)
            await self._after_writes(summary, idle=idle and not summary.webhook_events)
        store.finish_run(run_id, "completed", summary.to_dict())
        return summary

    async def plan(self, *, now: datetime, window: Window | None = None) -> RunSummary:
        """``callsync plan``: the same decisions for the window's calls, written nowhere."""
        ctx = self.ctx
        people: People = await self.run_stage("load-users", ctx, False)
        if window is None:
            cursor_pos = ctx.store.get_cursor(CURSOR_NAME)
            window = plan_window(
                IngestCursor(cursor_pos) if cursor_pos else None,
                run_started_at=now,
                lookback=timedelta(minutes=ctx.settings.ringostat.lookback_minutes),
                initial_start=now - timedelta(hours=ctx.settings.ringostat.initial_lookback_hours),
            )
        summary = RunSummary("plan", window.start.isoformat(), window.end.isoformat(), dry_run=True)
        summary.employee_problems = self._employee_problems(people)
        delta: IndexDelta = await self.run_stage("refresh-phone-index", ctx, people, False, False)
        crm = StoredCrm(ctx.store, people).with_overlay(delta.records, delta.deleted)
        memory = PlannerMemory()
        pages: list[list[dict[str, Any]]] = await self.run_stage("peek-calls", ctx, window)
        for page in pages:
            summary.rows_read += len(page)
            for rows in chunks(page, self.chunk_size):
                calls, bad = await self.run_stage("parse-calls", rows, ctx.settings)
                plans: list[CallPlan] = await self.run_stage(
                    "plan-writes", ctx, calls, crm, now, memory, False, False
                )
                summary.plans += [p.to_json() for p in plans] + [
                    {
                        "uniqueid": u.uniqueid,
                        "row": None,
                        "status": u.status,
                        "reason": u.reason,
                        "writes": [],
                    }
                    for u in bad
                ]
                summary.processed += len(calls) + len(bad)
        return summary

    # -- a chunk -----------------------------------------------------------------------------

    async def process(
        self,
        rows: Sequence[dict[str, Any]],
        crm: CrmView,
        *,
        now: datetime,
        run_id: str,
        memory: PlannerMemory | None = None,
    ) -> RunSummary:
        """parse → check phones → plan → record → check plans → write, for calls the store
        holds (a chunk of the work set, or after-call webhook rows ingested just before)."""
        ctx, store = self.ctx, self.ctx.store
        memory = memory if memory is not None else PlannerMemory()
        summary = RunSummary()
        calls, unprocessable = await self.run_stage("parse-calls", rows, ctx.settings)
        store.record_unprocessable(unprocessable, run_id=run_id)
        _account_unprocessable(unprocessable, summary)

        phones: CheckResult = await self.run_stage("check-phones", self.checks, calls)
        summary.phone_suite_success = phones.success
        calls = self._drop_failed(calls, phones, run_id, summary)

        await self.run_stage("check-callbacks", ctx, crm.people, calls, memory)
        plans: list[CallPlan] = await self.run_stage("plan-writes", ctx, calls, crm, now, memory)
        store.record_calls(calls, plans, run_id=run_id)

        assignment: CheckResult = await self.run_stage(
            "check-plans", self.checks, plans, calls, crm.people
        )
        summary.assignment_suite_success = assignment.success
        kept = {c.uniqueid for c in self._drop_failed(calls, assignment, run_id, summary)}
        dropped = [p for p in plans if p.uniqueid not in kept]
        if dropped:  # quarantined: their leads will not be written, their numbers are free
            store.release_claims(w.sync_key for p in dropped for w in p.writes if w.kind == "lead")
        plans = [p for p in plans if p.uniqueid in kept]

        for plan in plans:
            if plan.row is not None:
                summary.by_row[str(plan.row)] = summary.by_row.get(str(plan.row), 0) + 1
            if plan.status is not PlanStatus.PLANNED:
                summary.count(plan.status.value, plan.reason)
        to_write = [p for p in plans if p.status is PlanStatus.PLANNED]
        summary.processed = len(calls) + len(unprocessable)
        report: WriteReport = await self.run_stage("write-to-zoho", ctx, to_write, self.guard)
        summary += _write_summary(report)
        memory.settle(
            report.done,
            [
                (w.module, w.record_id)
                for p in to_write
                for w in p.writes
                if w.kind == "utm" and w.record_id and w.sync_key in report.done
            ],
        )
        return summary

    async def pickup_leads(
        self, rows: Sequence[dict[str, Any]], crm: CrmView, *, now: datetime
    ) -> tuple[list[Call], list[Unprocessable], list[CallPlan], WriteReport]:
        """The lead at pickup: parse → plan → write only the call's lead. Nothing else of the
        call is recorded (it has not ended: the after-call event or the log sync finishes it)."""
        ctx = self.ctx
        calls, bad = await self.run_stage("parse-calls", rows, ctx.settings)
        plans: list[CallPlan] = await self.run_stage(
            "plan-writes", ctx, calls, crm, now, PlannerMemory(), False
        )
        leads: list[tuple[str, PlannedWrite]] = [
            (p.uniqueid, lead)
            for p in plans
            if p.status is PlanStatus.PLANNED
            for lead in p.writes
            if lead.kind == "lead"
        ]
        report = WriteReport()
        if leads:
            report = await self.run_stage("write-leads", ctx, leads, self.guard)
        return calls, bad, plans, report

    # -- helpers -----------------------------------------------------------------------------

    async def _finish_inbox(self, people: People, now: datetime) -> RunSummary:
        """What the webhook receiver left (failed, or not handled yet) first."""
        return await finish_inbox(self, people)

    def _ingest_summary(self, ingested: Ingested) -> RunSummary:
        """Rows without a uniqueid and synced calls changed afterwards: in the summary."""
        part = RunSummary(
            rows_read=ingested.rows,
            new_calls=ingested.new,
            changed_calls=ingested.changed,
            without_uniqueid=ingested.quarantined,
        )
        self.log.info(
            "Read %d rows: %d new, %d changed, %d unchanged",
            ingested.rows,
            ingested.new,
            ingested.changed,
            ingested.unchanged,
        )
        if ingested.quarantined_new:
            part.count("quarantined", Reason.MISSING_CALL_ID.value, ingested.quarantined_new)
            part.quarantined.extend(
                {"uniqueid": "?", "reason": Reason.MISSING_CALL_ID.value}
                for _ in range(ingested.quarantined_new)
            )
        if ingested.quarantined:
            self.log.warning(
                "%d rows without a uniqueid are in the quarantine", ingested.quarantined
            )
        for uid, fields in ingested.changed_after_sync:
            part.changed_after_sync.append({"uniqueid": uid, "fields": fields})
            part.count(reason=CHANGED_AFTER_SYNC)
        if ingested.changed_after_sync:
            self.log.warning(
                "%d synced calls came again with other content (%s); their Zoho records are kept",
                len(ingested.changed_after_sync),
                CHANGED_AFTER_SYNC,
            )
        return part

    def _drop_failed(
        self, calls: list[Call], result: CheckResult, run_id: str, summary: RunSummary
    ) -> list[Call]:
        if not result.failed:
            return calls
        self.ctx.store.quarantine_calls(
            {uid: (name, f"failed expectation {name}") for uid, name in result.failed.items()},
            run_id=run_id,
        )
        for uid, name in result.failed.items():
            summary.count("quarantined", name)
            summary.quarantined.append({"uniqueid": uid, "reason": name})
        self.log.warning("%d calls failed validation and were quarantined", len(result.failed))
        return [c for c in calls if c.uniqueid not in result.failed]

    def _refresh_synced(self, uniqueids: Sequence[str], run_id: str) -> None:
        """Synced calls read again with other values — written earlier from a webhook's
        parameters, or given a recording later: their stored fields (reports) follow the call
        log; their Zoho records, status and scenario row stay."""
        from tasks.calls import parse_rows

        store = self.ctx.store
        rows = [row for row in (store.raw_row(uid) for uid in uniqueids) if row is not None]
        calls, _ = parse_rows(rows, self.ctx.settings)
        store.record_calls(calls, [], run_id=run_id)

    def _employee_problems(self, people: People) -> list[str]:
        """An entry naming no active Zoho user is never silently ignored; the run goes on."""
        problems = list(people.employees.problems)
        for problem in problems:
            self.log.warning("employee map: %s", problem)
        return problems

    def _stop_on_spent_credits(
        self, exc: CreditsExhausted, summary: RunSummary, stats: _ZohoMeter
    ) -> CreditsExhausted:
        """Zoho's credit budget is spent: keep what was written, leave the rest pending, say so.

        The cursor stays where it was and the calls not written stay ``pending``: the next run
        (once Zoho's rolling 24-hour window frees credits) picks them up. Returns the one-line
        error the run ends with (non-zero exit)."""
        store = self.ctx.store
        pending = sum(c.count for c in store.call_counts() if c.status == "pending")
        summary.stopped = f"{CREDITS_EXHAUSTED}: {exc.message}"
        summary.zoho_requests, summary.zoho_credits = stats.used()
        summary.count(reason=CREDITS_EXHAUSTED)
        store.finish_run(summary.run_id, CREDITS_EXHAUSTED, summary.to_dict())
        line = (
            f"Zoho's 24-hour API credit budget is spent ({exc.code} {exc.message}); stopped "
            f"writing, {pending} call(s) left pending for a later run"
        )
        self.log.error(line)
        return CreditsExhausted(line, code=exc.code, status=exc.status)

    async def _after_writes(self, summary: RunSummary, *, idle: bool) -> None:
        """Data Docs, the DuckDB landing and the caller's own steps; a failure is kept in the
        summary (``deferred_steps``) and logged, never raised: the next run does it again (a
        failed landing leaves a marker that makes the next run land even when it is idle)."""
        settings = self.ctx.settings
        summary.data_docs = await self._deferred(summary, "data_docs", self.checks.build_docs)
        owed = _landing_owed(settings.store.duckdb_path)
        if idle and Path(settings.store.duckdb_path).is_file() and not owed.exists():
            summary.duckdb_path = settings.store.duckdb_path
            return
        done = await self._deferred(summary, "duckdb", lambda: _land(self.ctx))
        _mark(owed, owed=done is None)
        if done is not None:
            summary.duckdb_path = settings.store.duckdb_path
        for name, step in self.after_writes:
            await self._deferred(summary, name, lambda step=step: step(summary))  # type: ignore[misc]

    async def _deferred(self, summary: RunSummary, step: str, run: Callable[[], Any]) -> str | None:
        try:
            result = run()
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            summary.deferred_steps[step] = f"{type(exc).__name__}: {exc}"[:300]
            self.log.warning(
                "%s failed after the writes were committed (%s); the next run does it again",
                step,
                summary.deferred_steps[step],
            )
            return None
        return "" if result is None else str(result)


def _land(ctx: RunContext) -> None:
    from tasks.reporting.land import land_reports  # DuckDB: only where reports are landed

    land_reports(
        ctx.store.engine,
        Path(ctx.settings.store.duckdb_path),
        company_timezone=ctx.settings.scenario.company_timezone,
    )


def _landing_owed(duckdb_path: str) -> Path:
    path = Path(duckdb_path)
    return path.with_name(path.name + ".landing-owed")


def _mark(marker: Path, *, owed: bool) -> None:
    try:
        if owed:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)
    except OSError:
        pass


def _account_unprocessable(items: Iterable[Unprocessable], summary: RunSummary) -> None:
    for item in items:
        summary.count(item.status, item.reason)
        if item.status == "quarantined":
            summary.quarantined.append({"uniqueid": item.uniqueid or "?", "reason": item.reason})


def _write_summary(report: WriteReport) -> RunSummary:
    part = RunSummary(writes=dict(report.counts), by_status=dict(report.call_statuses))
    part.failures = [
        {"uniqueid": f.uniqueid, "sync_key": f.sync_key, "code": f.code, "message": f.message}
        for f in report.failures
    ]
    return part


class _ZohoMeter:
    """Zoho requests and credits spent since it was made (the client counts for its lifetime,
    a backfill runs many windows on one client)."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._start = (ctx.zoho.stats.requests, ctx.zoho.stats.credits)

    def used(self) -> tuple[int, int]:
        stats = self._ctx.zoho.stats
        return stats.requests - self._start[0], stats.credits - self._start[1]
