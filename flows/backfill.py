"""The backfill flow: a past date range cut into windows, synced one after another.

Used nightly over the previous two days (late recordings, calls missed during an outage) and by
hand after an incident. Every window is an ordinary sync of the pipeline over an explicit window,
so repeating a backfill changes nothing that is already right; the ingest cursor is left alone.
Each window takes the run lease for itself, so scheduled syncs run between the windows of a long
backfill instead of failing for its whole length.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio
from prefect import flow, get_run_logger, runtime

from flows.runtime.run_card import label_failed_run, publish_summary
from flows.runtime.secrets import load_run_settings
from flows.sync import flow_pipeline, label
from tasks.lease import LeaseBusy, run_lease
from tasks.pipeline import RunSummary, open_context
from tasks.pipeline.context import utc_now
from tasks.ringostat.cursor import Window, split_window
from tasks.timeparse import TimeError, parse_when

LEASE_WAIT_S = 5.0
"""How often a backfill window that found the lease taken (a scheduled sync) looks again."""


@flow(
    name="callsync-backfill",
    log_prints=False,
    on_failure=[label_failed_run],
    on_crashed=[label_failed_run],
)
async def backfill_calls(
    config: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    days_back: float | None = None,
    window_hours: float = 6.0,
    secret_blocks: dict[str, str] | None = None,
    tenant: str | None = None,
    tenants_dir: str | None = None,
) -> dict[str, Any]:
    """Re-sync a past range window by window.

    Args:
        config: TOML config path (default: ``$CALLSYNC_CONFIG``).
        date_from: start (ISO 8601 date or date-time); or use ``days_back``.
        date_to: end (default: now).
        days_back: the range is the last N days up to now (the nightly deployment uses 2).
        window_hours: size of each window.
        secret_blocks: setting → Prefect Secret block name, read at run time (deployments);
            ``{tenant}`` in a name is the run's tenant.
        tenant: the company, in the tenants directory (``tenants_dir``, else
            ``$CALLSYNC_TENANTS_DIR``); without a directory, the single config is ``default``.
        tenants_dir: the tenants directory (default: ``$CALLSYNC_TENANTS_DIR``).
    """
    log = get_run_logger()
    settings = await load_run_settings(
        config, secret_blocks, tenant=tenant, tenants_dir=tenants_dir
    )
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
    total = RunSummary(run_id, start.isoformat(), end.isoformat())
    started = utc_now()
    company_tz = settings.scenario.company_timezone
    async with open_context(settings) as ctx:
        pipeline = flow_pipeline(ctx)
        for number, window in enumerate(windows, start=1):
            last = number == len(windows)
            while True:
                try:
                    with run_lease(ctx.store, what="backfill", run_id=run_id) as lease:
                        pipeline.guard = lease.check
                        part = await pipeline.sync(
                            now=now, run_id=f"{run_id}:{number}", window=window, land=last
                        )
                    break
                except LeaseBusy as busy:
                    if number == 1:  # another run was there first: this backfill is not needed now
                        log.info("%s", busy)
                        held = {"lease_held": str(busy)}
                        await label("backfill", held, started_at=started, tz=company_tz)
                        return held
                    # A scheduled sync between two windows: wait for it, then go on.
                    log.info("window %d waits for another run: %s", number, busy)
                    await anyio.sleep(LEASE_WAIT_S)
            total += part
            log.info(
                "Backfill window %d/%d (%s → %s): %d rows, %d new",
                number,
                len(windows),
                window.start.isoformat(),
                window.end.isoformat(),
                part.rows_read,
                part.new_calls,
            )
    result = total.to_dict()
    try:
        await publish_summary(result, company_tz, kind="backfill")
    except Exception as exc:
        log.warning("could not publish the summary artifact (%s)", exc)
    await label("backfill", result, started_at=started, tz=company_tz)
    return result
