"""The sync flow: Ringostat's call log → Zoho CRM, exactly once, validated, reported.

Reads like a table of contents (the work is in ``tasks/``):

    settings → users and TOP manager (fail before writing anything) → window → read calls →
    ingest into the state store → refresh the CRM phone index → parse and normalize →
    validate phones (GX) → plan → validate assignment (GX) → write to Zoho → late recordings →
    land DuckDB → commit the cursor → summary artifact.

A failed run can be retried from the Prefect UI: the state store keeps every call it ingested and
every write it intended, so a retry finishes the work without duplicates.
"""

from __future__ import annotations

import contextlib
import inspect
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from flows.cli.preflight import check_window
from flows.cli.render import GX_OFFLINE_NOTE
from flows.context import RunContext, open_context, utc_now
from flows.reports import land, publish_conversion_table
from flows.runtime.secrets import load_run_settings
from models.crm import ZohoUser
from models.plan import PlannedWrite, PlanStatus, Reason
from models.settings import Settings
from tasks import steps
from tasks.calls import parse_rows
from tasks.crm_sync import CrmView
from tasks.employees import EmployeeMap
from tasks.lease import LeaseBusy, run_lease
from tasks.ringostat.cursor import IngestCursor, Window, advance, plan_window
from tasks.scenario import plan_recording_updates
from tasks.store import IngestResult, Store
from tasks.timeparse import parse_when
from tasks.webhooks.steps import finish_webhooks
from tasks.zoho.errors import CreditsExhausted
from tasks.zoho.writer import WriteReport

CURSOR_NAME = "ringostat:calls"
CHANGED_AFTER_SYNC = "changed_after_sync"
CREDITS_EXHAUSTED = "credits_exhausted"


@dataclass
class SyncSummary:
    """What one run did; printed by the CLI, published as a Prefect artifact, kept in the store."""

    run_id: str
    window_start: str
    window_end: str
    rows_read: int = 0
    new_calls: int = 0
    changed_calls: int = 0
    processed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    by_row: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    recording_updates: int = 0
    without_uniqueid: int = 0
    """Rows read without a ``uniqueid`` (quarantined as ``missing_call_id``)."""
    changed_after_sync: list[dict[str, str]] = field(default_factory=list)
    """Synced calls Ringostat re-delivered with other content: ``uniqueid`` and ``fields``."""
    phone_suite_success: bool = True
    assignment_suite_success: bool = True
    zoho_requests: int = 0
    zoho_credits: int = 0
    data_docs: str | None = None
    duckdb_path: str | None = None
    dry_run: bool = False
    plans: list[dict[str, Any]] = field(default_factory=list)
    employee_problems: list[str] = field(default_factory=list)
    """The employee map's problems (an entry naming no active Zoho user, ...), every run."""
    webhook_events: dict[str, int] = field(default_factory=dict)
    deferred_steps: dict[str, str] = field(default_factory=dict)
    """Steps after the writes that failed (DuckDB landing, Data Docs, artifacts): left to the
    next run, by name with the error."""
    stopped: str | None = None
    """Why the run stopped before its end (``credits_exhausted: ...``), else None."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bump(counter: dict[str, int], key: object, by: int = 1) -> None:
    counter[str(key)] = counter.get(str(key), 0) + by


def _parse_bound(value: str | None, settings: Settings, *, end: bool) -> datetime | None:
    return None if value is None else parse_when(value, settings.ringostat.timezone, end=end)


async def run_sync(
    ctx: RunContext,
    *,
    now: datetime,
    run_id: str,
    window: Window | None = None,
    dry_run: bool = False,
    finalize: bool = True,
) -> SyncSummary:
    """One sync run over ``window`` (default: from the cursor, with the lookback, up to now).

    ``finalize=False`` leaves out what only the last of several windows needs (a backfill):
    building the Data Docs, landing DuckDB and publishing the conversion table.
    """
    log = get_run_logger()
    settings, store = ctx.settings, ctx.store

    users, top = await steps.load_zoho_users(ctx.zoho, settings)
    log.info("Zoho: %d active users; TOP manager is %s", len(users), top.full_name or top.id)

    cursor_pos = store.get_cursor(CURSOR_NAME)
    explicit = window is not None
    if window is None:
        window = plan_window(
            IngestCursor(cursor_pos) if cursor_pos else None,
            run_started_at=now,
            lookback=timedelta(minutes=settings.ringostat.lookback_minutes),
            initial_start=now - timedelta(hours=settings.ringostat.initial_lookback_hours),
        )
    summary = SyncSummary(run_id, window.start.isoformat(), window.end.isoformat(), dry_run=dry_run)
    log.info("Window %s → %s", window.start.isoformat(), window.end.isoformat())

    rows = await steps.read_calls(ctx.ringostat, window)
    summary.rows_read = len(rows)
    if dry_run:
        return await _dry_run(ctx, rows, users, top, now, summary)

    store.start_run(run_id, "sync", window.start, window.end)
    # What the webhook receiver left (failed or not handled yet) first: its leads are then in
    # the phone index this run refreshes below.
    try:
        summary.webhook_events = await finish_webhooks(ctx.zoho, store, settings, users, top)
    except CreditsExhausted as exc:
        raise await _stop_on_spent_credits(ctx, exc, run_id, summary) from exc
    ingest = steps.ingest_calls(store, steps.big(rows), run_id)
    summary.new_calls, summary.changed_calls = ingest.new, ingest.changed
    _account_ingest(ingest, summary)
    log.info(
        "Read %d rows: %d new, %d changed, %d unchanged",
        len(rows),
        ingest.new,
        ingest.changed,
        ingest.unchanged,
    )
    del rows  # in the store now: a large window's raw answer is not kept through the run

    work = store.work()
    idle = (
        not work
        and not ingest.recording_updates
        and not ingest.new
        and not ingest.changed
        and not any(summary.webhook_events.values())
    )
    try:
        if work or ingest.recording_updates:
            crm = await steps.refresh_phone_index(ctx.zoho, store, settings, steps.big(users), top)
            log.info("Phone index: %d CRM records", crm.index_size)
            _report_employee_problems(crm.employees, summary)
            await _process_pending(ctx, crm, work, now, run_id, summary)
            await _recording_updates(ctx, crm, ingest.recording_updates, run_id, summary)
        else:
            # The steady state of a run every minute: no Zoho reads for the phone index (the
            # next run with calls, or the reports flow, catches up on every change since).
            log.info("No calls to process")
            employees = EmployeeMap.build(settings.employees, users, settings.scenario)
            _report_employee_problems(employees, summary)
    except CreditsExhausted as exc:
        raise await _stop_on_spent_credits(ctx, exc, run_id, summary) from exc

    if ingest.refreshed:
        _refresh_synced(store, ingest.refreshed, settings, run_id)

    summary.zoho_requests = ctx.zoho.stats.requests
    summary.zoho_credits = ctx.zoho.stats.credits
    if not explicit:
        store.set_cursor(
            CURSOR_NAME,
            advance(
                IngestCursor(cursor_pos) if cursor_pos else None, window, run_started_at=now
            ).position,
        )
    # The writes are committed: nothing below can fail the run. Each step rebuilds from the
    # store, so one that fails now is done again by the next run (a failed landing leaves a
    # marker that makes the next run land even when it changed nothing).
    owed = _landing_owed(settings)
    relanded = finalize and not (
        idle and Path(settings.store.duckdb_path).is_file() and not owed.exists()
    )
    if finalize:
        summary.data_docs = await _after_writes(summary, "data_docs", ctx.gx.build_docs)
        landed = True
        if relanded:
            done = await _after_writes(summary, "duckdb", lambda: land(settings, store.engine))
            landed = done is not None
            _mark_landing(owed, owed=not landed)
        if landed:
            summary.duckdb_path = settings.store.duckdb_path
    store.finish_run(run_id, "completed", summary.to_dict())
    await _after_writes(summary, "summary_artifact", lambda: _publish(summary))
    if relanded and "duckdb" not in summary.deferred_steps:
        await _after_writes(summary, "conversion_table", lambda: publish_conversion_table(settings))
    return summary


def _landing_owed(settings: Settings) -> Path:
    path = Path(settings.store.duckdb_path)
    return path.with_name(path.name + ".landing-owed")


def _mark_landing(marker: Path, *, owed: bool) -> None:
    with contextlib.suppress(OSError):
        if owed:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)


async def _after_writes(summary: SyncSummary, step: str, run: Callable[[], Any]) -> str | None:
    """Run a step that comes after the writes; a failure is logged and kept in the summary
    (``deferred_steps``), never raised. Returns the step's result as text, None on failure."""
    try:
        result = run()
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        summary.deferred_steps[step] = f"{type(exc).__name__}: {exc}"[:300]
        get_run_logger().warning(
            "%s failed after the writes were committed (%s); the next run does it again",
            step,
            summary.deferred_steps[step],
        )
        return None
    return "" if result is None else str(result)


async def _stop_on_spent_credits(
    ctx: RunContext, exc: CreditsExhausted, run_id: str, summary: SyncSummary
) -> CreditsExhausted:
    """Zoho's credit budget is spent: keep what was written, leave the rest pending, say so.

    The cursor stays where it was and the calls not written stay ``pending``: the next run (once
    Zoho's rolling 24-hour window frees credits) picks them up. Returns the one-line error the
    run ends with (non-zero exit)."""
    pending = sum(c.count for c in ctx.store.call_counts() if c.status == "pending")
    summary.stopped = f"credits_exhausted: {exc.message}"
    summary.zoho_requests = ctx.zoho.stats.requests
    summary.zoho_credits = ctx.zoho.stats.credits
    _bump(summary.by_reason, CREDITS_EXHAUSTED)
    ctx.store.finish_run(run_id, CREDITS_EXHAUSTED, summary.to_dict())
    with contextlib.suppress(Exception):  # the summary artifact is a courtesy here
        await _publish(summary)
    line = (
        f"Zoho's 24-hour API credit budget is spent ({exc.code} {exc.message}); stopped writing, "
        f"{pending} call(s) left pending for a later run"
    )
    get_run_logger().error(line)
    return CreditsExhausted(line, code=exc.code, status=exc.status)


def _refresh_synced(
    store: Store, uniqueids: Sequence[str], settings: Settings, run_id: str
) -> None:
    """Synced calls read again with other values — written earlier from a webhook's parameters
    (SPEC 12), or given a recording later: their stored fields (reports) follow the call log;
    their Zoho records, status and scenario row stay."""
    rows = [row for row in (store.raw_row(uid) for uid in uniqueids) if row is not None]
    calls, _ = parse_rows(rows, settings)
    store.record_calls(calls, [], run_id=run_id)


async def _process_pending(
    ctx: RunContext,
    crm: CrmView,
    work: list[dict[str, Any]],
    now: datetime,
    run_id: str,
    summary: SyncSummary,
) -> None:
    """Parse → validate phones → plan → validate assignment → write, for every call in line."""
    log = get_run_logger()
    settings, store = ctx.settings, ctx.store
    calls, unprocessable = steps.parse_calls(steps.big(work), settings)
    store.record_unprocessable(unprocessable, run_id=run_id)
    for item in unprocessable:
        _bump(summary.by_status, item.status)
        _bump(summary.by_reason, item.reason)
        if item.status == "quarantined":
            summary.quarantined.append({"uniqueid": item.uniqueid or "?", "reason": item.reason})

    phones = steps.validate_phone_normalization(ctx.gx, steps.big(calls), settings)
    summary.phone_suite_success = phones.success
    calls = _drop_failed(ctx, calls, phones.failed, run_id, summary)

    plans = steps.plan_writes(steps.big(calls), steps.big(crm), settings, now)
    store.record_calls(calls, plans, run_id=run_id)

    assignment = steps.validate_assignment(
        ctx.gx, steps.big(plans), steps.big(calls), steps.big(crm), settings
    )
    summary.assignment_suite_success = assignment.success
    kept = {c.uniqueid for c in _drop_failed(ctx, calls, assignment.failed, run_id, summary)}
    plans = [p for p in plans if p.uniqueid in kept]

    for plan in plans:
        if plan.row is not None:
            _bump(summary.by_row, plan.row)
        if plan.status is not PlanStatus.PLANNED:
            _bump(summary.by_status, plan.status.value)
            _bump(summary.by_reason, plan.reason)
    to_write = [p for p in plans if p.status is PlanStatus.PLANNED]
    summary.processed = len(calls) + len(unprocessable)
    log.info(
        "Planned %d calls: %d to write, %d skipped or deferred",
        len(plans),
        len(to_write),
        len(plans) - len(to_write),
    )
    report = await steps.write_to_zoho(steps.big(to_write), ctx.zoho, store, settings)
    _account(report, summary)


def _drop_failed(
    ctx: RunContext,
    calls: list[Any],
    failed: dict[str, str],
    run_id: str,
    summary: SyncSummary,
) -> list[Any]:
    if not failed:
        return calls
    ctx.store.quarantine_calls(
        {uid: (name, f"failed expectation {name}") for uid, name in failed.items()},
        run_id=run_id,
    )
    for uid, name in failed.items():
        _bump(summary.by_status, "quarantined")
        _bump(summary.by_reason, name)
        summary.quarantined.append({"uniqueid": uid, "reason": name})
    get_run_logger().warning("%d calls failed validation and were quarantined", len(failed))
    return [c for c in calls if c.uniqueid not in failed]


def _account_ingest(ingest: IngestResult, summary: SyncSummary) -> None:
    """Rows without a uniqueid and synced calls changed afterwards: in the summary, not lost."""
    log = get_run_logger()
    summary.without_uniqueid = ingest.quarantined
    if ingest.quarantined_new:
        _bump(summary.by_status, "quarantined", ingest.quarantined_new)
        _bump(summary.by_reason, Reason.MISSING_CALL_ID.value, ingest.quarantined_new)
        summary.quarantined.extend(
            {"uniqueid": "?", "reason": Reason.MISSING_CALL_ID.value}
            for _ in range(ingest.quarantined_new)
        )
    if ingest.quarantined:
        log.warning("%d rows without a uniqueid are in the quarantine", ingest.quarantined)
    for uid, fields in ingest.changed_after_sync:
        summary.changed_after_sync.append({"uniqueid": uid, "fields": fields})
        _bump(summary.by_reason, CHANGED_AFTER_SYNC)
    if ingest.changed_after_sync:
        log.warning(
            "%d synced calls came again with other content (%s); their Zoho records are kept",
            len(ingest.changed_after_sync),
            CHANGED_AFTER_SYNC,
        )


def _account(report: WriteReport, summary: SyncSummary) -> None:
    for key, count in report.counts.items():
        _bump(summary.writes, key, count)
    for status, count in report.call_statuses.items():
        _bump(summary.by_status, status, count)
    summary.failures.extend(
        {"uniqueid": f.uniqueid, "sync_key": f.sync_key, "code": f.code, "message": f.message}
        for f in report.failures
    )
    if report.failures:
        get_run_logger().warning(
            "Zoho rejected %d records; they are kept with Zoho's code", len(report.failures)
        )


async def _recording_updates(
    ctx: RunContext,
    crm: CrmView,
    uniqueids: Sequence[str],
    run_id: str,
    summary: SyncSummary,
) -> None:
    """Recordings that appeared after a call was synced update its tasks' descriptions."""
    if not uniqueids:
        return
    settings, store = ctx.settings, ctx.store
    rows = [row for row in (store.raw_row(uid) for uid in uniqueids) if row is not None]
    calls, _ = steps.parse_calls(steps.big(rows), settings)
    writes: list[tuple[str, PlannedWrite]] = []
    for call in calls:
        writes.extend(
            (call.uniqueid, w)
            for w in plan_recording_updates(
                call, store.synced_writes(call.uniqueid), settings, crm.employees, crm.snapshot
            )
        )
    if writes:
        report = await steps.apply_updates(steps.big(writes), ctx.zoho, store, settings)
        summary.recording_updates = report.counts.get("Tasks/update/success", 0)
        _account(report, summary)


def _report_employee_problems(employees: EmployeeMap, summary: SyncSummary) -> None:
    """SPEC 4: an entry naming no active Zoho user is never silently ignored; the run goes on."""
    summary.employee_problems = list(employees.problems)
    for problem in summary.employee_problems:
        get_run_logger().warning("employee map: %s", problem)


async def _dry_run(
    ctx: RunContext,
    rows: list[dict[str, Any]],
    users: list[ZohoUser],
    top: ZohoUser,
    now: datetime,
    summary: SyncSummary,
) -> SyncSummary:
    """``callsync plan``: the same decisions, printed; nothing is written anywhere."""
    crm = await steps.refresh_phone_index(
        ctx.zoho, ctx.store, ctx.settings, users, top, persist=False
    )
    _report_employee_problems(crm.employees, summary)
    calls, unprocessable = steps.parse_calls(steps.big(rows), ctx.settings)
    plans = steps.plan_writes(steps.big(calls), steps.big(crm), ctx.settings, now)
    summary.plans = [p.to_json() for p in plans] + [
        {"uniqueid": u.uniqueid, "row": None, "status": u.status, "reason": u.reason, "writes": []}
        for u in unprocessable
    ]
    return summary


async def _publish(summary: SyncSummary) -> None:
    rows = [{"status": k, "calls": v} for k, v in sorted(summary.by_status.items())]
    rows += [{"status": f"reason: {k}", "calls": v} for k, v in sorted(summary.by_reason.items())]
    rows += [{"status": f"matrix row {k}", "calls": v} for k, v in sorted(summary.by_row.items())]
    await acreate_table_artifact(
        key="callsync-sync-summary",
        table=rows,
        description=f"Calls by status, reason and scenario row — window {summary.window_start} "
        f"→ {summary.window_end}",
    )
    lines = [
        f"# Sync {summary.window_start} → {summary.window_end}",
        f"- rows read: {summary.rows_read} ({summary.new_calls} new, {summary.changed_calls} changed)",
        f"- Zoho writes: {summary.writes}",
        f"- Zoho requests: {summary.zoho_requests}, credits: {summary.zoho_credits}",
        f"- quarantined: {len(summary.quarantined)}; rejected by Zoho: {len(summary.failures)}",
        *([f"- **stopped**: {summary.stopped}"] if summary.stopped else []),
        f"- Great Expectations Data Docs: `{summary.data_docs}` ({GX_OFFLINE_NOTE})",
        f"- DuckDB reports: `{summary.duckdb_path}`",
    ]
    for q in summary.quarantined[:50]:
        lines.append(f"  - quarantined `{q['uniqueid']}`: {q['reason']}")
    if summary.changed_after_sync:
        lines.append(
            f"- changed after sync (records in Zoho kept): {len(summary.changed_after_sync)}"
        )
        for c in summary.changed_after_sync[:50]:
            lines.append(f"  - `{c['uniqueid']}`: {c['fields']}")
    for problem in summary.employee_problems:
        lines.append(f"- employee map: {problem}")
    await acreate_markdown_artifact(key="callsync-sync-report", markdown="\n".join(lines))


@flow(name="callsync-sync", log_prints=False)
async def sync_calls(
    config: str | None = None,
    window_from: str | None = None,
    window_to: str | None = None,
    as_of: datetime | None = None,
    dry_run: bool = False,
    secret_blocks: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Sync Ringostat calls to Zoho CRM for one window (default: since the cursor, up to now).

    Args:
        config: path of the TOML config (default: ``$CALLSYNC_CONFIG``, then the environment).
        window_from: ISO 8601 start (naive values in ``ringostat.timezone``); with it the cursor
            is left as it is (a backfill).
        window_to: ISO 8601 end (default: now).
        as_of: the run's "now" (default: the clock) — backfills and tests pin it.
        dry_run: plan and return the planned writes; write nothing.
        secret_blocks: setting → Prefect Secret block name, read at run time (deployments).
    """
    settings = await load_run_settings(config, secret_blocks)
    now = as_of or utc_now()
    window = None
    if window_from is not None or window_to is not None:
        check_window(window_from, window_to, settings.ringostat.timezone, now=now)
        start = _parse_bound(window_from, settings, end=False)
        end = _parse_bound(window_to, settings, end=True) or now
        window = Window(
            start=start or end - timedelta(hours=settings.ringostat.initial_lookback_hours),
            end=min(end, now),
        )
    run_id = str(runtime.flow_run.id or uuid.uuid4())
    async with open_context(settings) as ctx:
        if dry_run:  # writes nothing: no lease needed
            summary = await run_sync(ctx, now=now, run_id=run_id, window=window, dry_run=True)
            return summary.to_dict()
        try:
            with run_lease(ctx.store, what="sync", run_id=run_id):
                summary = await run_sync(ctx, now=now, run_id=run_id, window=window)
        except LeaseBusy as busy:
            get_run_logger().info("%s", busy)
            return {"lease_held": str(busy)}
    return summary.to_dict()
