"""Benchmark: what holding a Zoho org's concurrency slot costs per request, two ways.

Every Zoho request of every process of a tenant holds one of the org's slots while in flight
(``[zoho] org_max_concurrency``). This measures one take-and-give-back, ``--requests`` times, by
``--concurrency`` requests at once (the org's allowance), through

- the store's slots (:mod:`tasks.zoho.org_slots`, what callsync uses) on SQLite and on
  PostgreSQL (``--postgres URL``), and
- a Prefect global concurrency limit ``zoho:<tenant>`` (``prefect.concurrency.asyncio``) on the
  Prefect server at ``PREFECT_API_URL`` (or a server of its own),

and prints, per way, milliseconds per request and the Prefect server's CPU seconds.

    .venv/bin/python benchmarks/bench_org_slots.py [--requests 400] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from tasks.store import Store
from tasks.zoho.org_slots import OrgSlots


async def _drive(
    slot: Callable[[], AbstractAsyncContextManager[Any]], requests: int, concurrency: int
) -> float:
    """Seconds for ``requests`` slot holds, ``concurrency`` at a time (the request itself takes
    no time: only the slot's cost is measured)."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate, slot():
            await asyncio.sleep(0)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    return time.perf_counter() - start


def store_slots(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    store = Store(url, tenant=f"bench-{uuid.uuid4().hex[:6]}")
    try:
        slots = OrgSlots(store, slots=concurrency, holder="bench", ttl=timedelta(seconds=35))
        seconds = asyncio.run(_drive(slots.held, requests, concurrency))
    finally:
        store.close()
    return {"ms_per_request": round(1000 * seconds / requests, 2), "waits": slots.waits}


def prefect_limits(requests: int, concurrency: int) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.asyncio import concurrency as prefect_concurrency

    from flows.simulate.run import _proc_cpu_s, _server_pid

    name = f"zoho:bench-{uuid.uuid4().hex[:6]}"

    async def run() -> float:
        async with get_client() as client:
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=concurrency)
            )
        return await _drive(lambda: prefect_concurrency(name, occupy=1), requests, concurrency)

    import os

    pid = _server_pid(os.environ["PREFECT_API_URL"])
    cpu0 = _proc_cpu_s(pid)
    seconds = asyncio.run(run())
    cpu1 = _proc_cpu_s(pid)
    return {
        "ms_per_request": round(1000 * seconds / requests, 2),
        "prefect_server_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    from flows.runtime.prefect_server import point_prefect_at, resolve_prefect_home

    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, Any] = {"requests": args.requests, "concurrency": args.concurrency}
        result["store_sqlite"] = store_slots(
            f"sqlite:///{Path(tmp) / 'state.db'}", args.requests, args.concurrency
        )
        if args.postgres:
            result["store_postgresql"] = store_slots(args.postgres, args.requests, args.concurrency)
        target = resolve_prefect_home(Path(tmp) / "prefect", startup_timeout_s=300)
        assert target is not None
        point_prefect_at(target)
        try:
            result["prefect_global_concurrency_limit"] = prefect_limits(
                args.requests, args.concurrency
            )
        finally:
            if target.home is not None:
                from flows.runtime.prefect_server import InstallationServer

                InstallationServer(target.home).stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
