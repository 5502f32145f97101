"""The backfill flow: a past date range cut into windows, synced one after another.

Used nightly over the previous two days (late recordings, calls missed during an outage) and by
hand after an incident. Every window is an ordinary sync over an explicit window, so repeating a
backfill changes nothing that is already right; the ingest cursor is left alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, runtime

from flows.context import RunContext, open_context, utc_now
from flows.runtime.secrets import load_run_settings
from flows.sync import SyncSummary, run_sync
from tasks.lease import LeaseBusy, run_lease
from tasks.ringostat.cursor import Window, split_window
from tasks.timeparse import TimeError, parse_when


def merge(total: SyncSummary, part: SyncSummary) -> None:
    """Add one window's counts into the backfill's summary."""
    total.rows_read += part.rows_read
    total.new_calls += part.new_calls
    total.changed_calls += part.changed_calls
    total.processed += part.processed
    total.recording_updates += part.recording_updates
    total.without_uniqueid += part.without_uniqueid
    total.changed_after_sync.extend(part.changed_after_sync)
    for mine, theirs in (
        (total.by_status, part.by_status),
        (total.by_reason, part.by_reason),
        (total.by_row, part.by_row),
        (total.writes, part.writes),
    ):
        for key, value in theirs.items():
            mine[key] = mine.get(key, 0) + value
    total.failures.extend(part.failures)
    total.quarantined.extend(part.quarantined)
    total.zoho_requests = part.zoho_requests
    total.zoho_credits = part.zoho_credits
    total.data_docs = part.data_docs or total.data_docs
    total.duckdb_path = part.duckdb_path or total.duckdb_path
    total.deferred_steps.update(part.deferred_steps)


@flow(name="callsync-backfill", log_prints=False)
async def backfill_calls(
    config: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    days_back: float | None = None,
    window_hours: float = 6.0,
    secret_blocks: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Re-sync a past range window by window.

    Args:
        config: TOML config path (default: ``$CALLSYNC_CONFIG``).
        date_from: start (ISO 8601 date or date-time); or use ``days_back``.
        date_to: end (default: now).
        days_back: the range is the last N days up to now (the nightly deployment uses 2).
        window_hours: size of each window.
        secret_blocks: setting → Prefect Secret block name, read at run time (deployments).
    """
    log = get_run_logger()
    settings = await load_run_settings(config, secret_blocks)
    now = utc_now()
    tz = settings.ringostat.timezone
    end = min(parse_when(date_to, tz, end=True), now) if date_to else now
    if date_from:
        start = parse_when(date_from, tz)
    elif days_back:
        start = end - timedelta(days=days_back)
    else:
        raise TimeError("backfill needs date_from (--from) or days_back")
    if start >= end:
        raise TimeError(f"backfill range is empty: {start.isoformat()} ≥ {end.isoformat()}")
    windows = split_window(Window(start=start, end=end), timedelta(hours=window_hours))
    run_id = str(runtime.flow_run.id or uuid.uuid4())
    total = SyncSummary(run_id, start.isoformat(), end.isoformat())
    async with open_context(settings) as ctx:
        try:
            with run_lease(ctx.store, what="backfill", run_id=run_id):
                await _windows(ctx, windows, now, run_id, total)
        except LeaseBusy as busy:
            log.info("%s", busy)
            return {"lease_held": str(busy)}
    return total.to_dict()


async def _windows(
    ctx: RunContext, windows: list[Window], now: datetime, run_id: str, total: SyncSummary
) -> None:
    log = get_run_logger()
    for number, window in enumerate(windows, start=1):
        part = await run_sync(ctx, now=now, run_id=f"{run_id}:{number}", window=window)
        merge(total, part)
        log.info(
            "Backfill window %d/%d (%s → %s): %d rows, %d new",
            number,
            len(windows),
            window.start.isoformat(),
            window.end.isoformat(),
            part.rows_read,
            part.new_calls,
        )
