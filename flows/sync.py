"""The sync flow: Ringostat's call log → Zoho CRM, exactly once, validated, reported.

The work is the pipeline's (:class:`tasks.pipeline.Pipeline`): this flow gives it the run's
context, the Great Expectations suites as its checks, Prefect tasks as the way each stage runs,
the run lease and the Prefect artifacts after the writes. A failed run can be retried from the
Prefect UI: the state store keeps every call it ingested and every write it intended, so a retry
finishes the work without duplicates.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, runtime

from expectations.checks import GxChecks
from flows.cli.preflight import check_window
from flows.reports import publish_conversion_table
from flows.runtime.run_card import alabel_run, label_failed_run, publish_summary
from flows.runtime.secrets import load_run_settings
from models.settings import STEP_RETRY_DELAYS_ENV, Settings
from tasks import steps
from tasks.lease import LeaseBusy, run_lease
from tasks.pipeline import Pipeline, RunContext, RunSummary, open_context
from tasks.pipeline.context import utc_now
from tasks.ringostat.cursor import Window
from tasks.timeparse import parse_when
from tasks.webhooks.steps import prefect_emitter
from tasks.zoho.errors import CreditsExhausted


def flow_pipeline(ctx: RunContext, **options: Any) -> Pipeline:
    """The pipeline as the flows run it: GX checks, every stage a Prefect task, Prefect's run
    logger, webhook events to Prefect's feed, the summary artifacts after the writes."""
    delays = steps.retry_delays(os.environ.get(STEP_RETRY_DELAYS_ENV))
    tz = ctx.settings.scenario.company_timezone
    return Pipeline(
        ctx,
        checks=GxChecks(ctx.settings),
        run_stage=steps.stage_runner(delays),
        log=get_run_logger(),
        emit=prefect_emitter(),
        after_writes=(
            ("summary_artifact", lambda s: publish_summary(s.to_dict(), tz)),
            ("conversion_table", lambda s: _conversion_table(ctx.settings, s)),
        ),
        **options,
    )


def explicit_window(
    settings: Settings, window_from: str | None, window_to: str | None, now: datetime
) -> Window | None:
    """The window a run was given (``--from``/``--to``), None for "since the cursor"."""
    if window_from is None and window_to is None:
        return None
    check_window(window_from, window_to, settings.ringostat.timezone, now=now)
    tz = settings.ringostat.timezone
    start = parse_when(window_from, tz) if window_from else None
    end = parse_when(window_to, tz, end=True) if window_to else now
    return Window(
        start=start or end - timedelta(hours=settings.ringostat.initial_lookback_hours),
        end=min(end, now),
    )


async def _conversion_table(settings: Settings, summary: RunSummary) -> None:
    if summary.duckdb_path and "duckdb" not in summary.deferred_steps:
        await publish_conversion_table(settings)


async def label(kind: str, result: dict[str, Any], *, started_at: datetime, tz: str) -> None:
    """Name the run after what it did (``sync 17:45 · 3 new calls``), in the company's time
    zone; a rename that fails never fails the run."""
    try:
        await alabel_run(kind, result, started_at=started_at, tz=tz)
    except Exception as exc:
        get_run_logger().warning("could not name the run in Prefect (%s)", exc)


@flow(
    name="callsync-sync",
    log_prints=False,
    on_failure=[label_failed_run],
    on_crashed=[label_failed_run],
)
async def sync_calls(
    config: str | None = None,
    window_from: str | None = None,
    window_to: str | None = None,
    as_of: datetime | None = None,
    dry_run: bool = False,
    secret_blocks: dict[str, str] | None = None,
    tenant: str | None = None,
    tenants_dir: str | None = None,
) -> dict[str, Any]:
    """Sync Ringostat calls to Zoho CRM for one window (default: since the cursor, up to now).

    Args:
        config: path of the TOML config (default: ``$CALLSYNC_CONFIG``, then the environment).
        window_from: ISO 8601 start (naive values in ``ringostat.timezone``); with it the cursor
            is left as it is (a backfill).
        window_to: ISO 8601 end (default: now).
        as_of: the run's "now" (default: the clock) — backfills and tests pin it.
        dry_run: plan and return the planned writes; write nothing.
        secret_blocks: setting → Prefect Secret block name, read at run time (deployments);
            ``{tenant}`` in a name is the run's tenant.
        tenant: the company, in the tenants directory (``tenants_dir``, else
            ``$CALLSYNC_TENANTS_DIR``); without a directory, the single config is ``default``.
        tenants_dir: the tenants directory (default: ``$CALLSYNC_TENANTS_DIR``).
    """
    settings = await load_run_settings(
        config, secret_blocks, tenant=tenant, tenants_dir=tenants_dir
    )
    now = as_of or utc_now()
    window = explicit_window(settings, window_from, window_to, now)
    run_id = str(runtime.flow_run.id or uuid.uuid4())
    tz = settings.scenario.company_timezone
    started = utc_now()
    result: dict[str, Any]
    async with open_context(settings) as ctx:
        pipeline = flow_pipeline(ctx)
        if dry_run:  # writes nothing: no lease needed
            result = (await pipeline.plan(now=now, window=window)).to_dict()
            await label("plan", result, started_at=started, tz=tz)
            return result
        try:
            with run_lease(ctx.store, what="sync", run_id=run_id) as lease:
                pipeline.guard = lease.check  # a run that lost its lease stops before writing
                result = (await pipeline.sync(now=now, run_id=run_id, window=window)).to_dict()
        except LeaseBusy as busy:
            get_run_logger().info("%s", busy)
            result = {"lease_held": str(busy)}
        except CreditsExhausted:
            stored = ctx.store.run(run_id)
            if stored is not None:
                await _courtesy(_json(stored.summary_json), tz)
            raise
        except Exception as exc:
            # What ``callsync tenants`` counts as this company's failure (a bad token fails
            # before the run has a row of its own).
            ctx.store.fail_run(run_id, "sync", f"{type(exc).__name__}: {exc}".splitlines()[0])
            raise
    await label("sync", result, started_at=started, tz=tz)
    return result


async def _courtesy(summary: dict[str, Any], tz: str) -> None:
    """The summary artifact of a run that stopped (a courtesy: it never fails the run)."""
    try:
        await publish_summary(summary, tz)
    except Exception:
        get_run_logger().warning("could not publish the summary artifact", exc_info=True)


def _json(text: str) -> dict[str, Any]:
    import json

    data = json.loads(text or "{}")
    return data if isinstance(data, dict) else {}
