"""One sync run of the product's pipeline (:class:`tasks.pipeline.Pipeline`) under the run lease,
without Prefect and Great Expectations, in this process or in a subprocess it kills
(``python -m tests.reliability.pipeline``). The flows' own wiring of the lease, the credits stop
and the deferred steps is covered by ``tests/flows``.

Subprocess mode kills itself with SIGKILL at the ``--kill-at``-th Zoho write request, either
just before it is sent or just after its answer arrived (before the ledger hears of it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
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


class KillingTransport(httpx.AsyncHTTPTransport):
    """Dies (SIGKILL) at the ``kill_at``-th CRM write, before sending it or after its answer."""

    def __init__(self, kill_at: int, after: bool) -> None:
        super().__init__()
        self.kill_at, self.after, self.writes = kill_at, after, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_write = request.method in ("POST", "PUT") and request.url.path.startswith("/crm/v8/")
        is_write = is_write and not request.url.path.endswith("/coql")
        if is_write:
            self.writes += 1
        mine = is_write and self.writes == self.kill_at  # batches are sent concurrently
        if mine and not self.after:
            os.kill(os.getpid(), signal.SIGKILL)
        response = await super().handle_async_request(request)
        if mine and self.after:
            await response.aread()  # the answer arrived: Zoho has the records
            os.kill(os.getpid(), signal.SIGKILL)
        return response


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", required=True, help="settings as JSON")
    parser.add_argument("--now", required=True)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--after", action="store_true")
    parser.add_argument("--batch", type=int, default=0, help="records per write request")
    args = parser.parse_args(argv)
    if args.batch:
        import tasks.zoho.client as client_module

        client_module.MAX_WRITE_BATCH = args.batch  # finer kill points than 100 records
    settings = Settings(**json.loads(args.settings))
    clock = FixedClock(datetime.fromisoformat(args.now))
    transport = KillingTransport(args.kill_at, args.after) if args.kill_at else None
    result = asyncio.run(
        sync_once(settings, clock, run_id=f"run-{args.kill_at}", zoho_transport=transport)
    )
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
