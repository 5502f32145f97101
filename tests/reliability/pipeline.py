"""One sync run made of the product's own steps, without Prefect: what the reliability suite runs,
in this process or in a subprocess it kills (``python -m tests.reliability.pipeline``).

It follows :func:`flows.sync.run_sync` step for step — run lease, shared Zoho token, users,
Ringostat window, ingest, phone index, parse, plan, record, write, finish — with the same
classes the flow builds in :func:`flows.context.open_context`, minus Great Expectations and
Prefect (their start-up would dominate a suite that runs dozens of processes). The flows' own
wiring of the lease, the credits stop and the deferred steps is covered by ``tests/flows``.

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
from tasks.calls import parse_rows
from tasks.crm_sync import load_users, refresh_crm
from tasks.lease import LeaseBusy, process_identity, run_lease
from tasks.ringostat.client import RingostatClient
from tasks.scenario import plan_calls
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.token_store import SharedTokens
from tasks.zoho.writer import execute_plans

Clock = Callable[[], datetime]
WINDOW = (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


async def sync_once(
    settings: Settings,
    clock: Clock,
    *,
    run_id: str,
    zoho_transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """One run; ``{"lease_held": line}`` when another run holds the store."""
    store = Store(settings.store.url, clock=clock)
    zoho_http = httpx.AsyncClient(transport=zoho_transport, timeout=30)
    ringostat_http = httpx.AsyncClient(timeout=30)
    try:
        try:
            with run_lease(store, what="sync", run_id=run_id):
                zoho = ZohoClient(
                    settings.zoho,
                    zoho_http,
                    clock=clock,
                    tokens=SharedTokens(store, settings.zoho, owner=process_identity()),
                )
                ringostat = RingostatClient(settings.ringostat, ringostat_http)
                return await _steps(settings, store, zoho, ringostat, clock, run_id)
        except LeaseBusy as busy:
            return {"lease_held": str(busy)}
    finally:
        await zoho_http.aclose()
        await ringostat_http.aclose()
        store.close()


async def _steps(
    settings: Settings,
    store: Store,
    zoho: ZohoClient,
    ringostat: RingostatClient,
    clock: Clock,
    run_id: str,
) -> dict[str, Any]:
    users, top = await load_users(zoho, settings)
    rows = await ringostat.fetch_window(*WINDOW)
    store.start_run(run_id, "sync", *WINDOW)
    store.ingest(rows, run_id=run_id)
    crm = await refresh_crm(zoho, store, settings, users, top)
    calls, unprocessable = parse_rows(store.work(), settings)
    store.record_unprocessable(unprocessable, run_id=run_id)
    plans = plan_calls(calls, crm.snapshot, crm.employees, settings, now=clock())
    store.record_calls(calls, plans, run_id=run_id)
    report = await execute_plans(
        plans, zoho, store, sync_key_field=settings.scenario.sync_key_field
    )
    summary = {"writes": report.counts, "requests": zoho.stats.requests}
    store.finish_run(run_id, "completed", summary)
    return summary


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
