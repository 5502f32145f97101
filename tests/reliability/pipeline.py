"""One sync run of the product's pipeline (:class:`tasks.pipeline.Pipeline`) under the run lease,
in this process, without Prefect and Great Expectations: what the in-process reliability tests
(concurrency, credits, hostile values) drive, and the clean run the crash test compares its
killed ``callsync sync`` processes with. The flows' own wiring of the lease, the credits stop
and the deferred steps is covered by ``tests/flows``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from models.settings import Settings
from tasks.lease import LeaseBusy, run_lease
from tasks.pipeline import Pipeline, open_context
from tasks.ringostat.cursor import Window
from tasks.store import Store

Clock = Callable[[], datetime]
WINDOW = (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


async def sync_once(
    settings: Settings,
    clock: Clock,
    *,
    run_id: str,
    zoho_transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """One run of the pipeline over :data:`WINDOW`; ``{"lease_held": line}`` when another run
    holds the store."""
    async with open_context(settings, clock=clock, zoho_transport=zoho_transport) as ctx:
        try:
            with run_lease(ctx.store, what="sync", run_id=run_id) as lease:
                summary = await Pipeline(ctx, guard=lease.check).sync(
                    now=clock(), run_id=run_id, window=Window(*WINDOW), land=False
                )
        except LeaseBusy as busy:
            return {"lease_held": str(busy)}
    return {"writes": summary.writes, "requests": summary.zoho_requests}


def land(settings: Settings, clock: Clock) -> None:
    from tasks.reporting.land import land_reports  # DuckDB: only where the reports are read

    with Store(settings.store.url, clock=clock) as store:
        land_reports(
            store.engine,
            Path(settings.store.duckdb_path),
            company_timezone=settings.scenario.company_timezone,
            clock=clock,
        )
