"""Benchmark: the sync pipeline's steps on a generated day of calls, against both emulators.

Prints, per step, the time taken and calls per second, and the Zoho API requests and credits per
1,000 calls (counted by the Zoho emulator by Zoho's own credit rules). A second pass over the same
calls shows what a rerun costs (it should write nothing). Great Expectations and Prefect are left
out here: their cost is a fixed overhead per run, visible in the demo's timings.

    .venv/bin/python benchmarks/bench_pipeline.py --calls 5000 [--seed 7] [--lost 0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from emulators.demo_data import generate_demo
from emulators.ringostat.app import create_app as create_ringostat
from emulators.zoho import transport as zoho_transport
from emulators.zoho.app import create_app as create_zoho
from models.plan import PlanStatus
from models.settings import load_settings
from tasks.calls import parse_rows
from tasks.crm_sync import load_users, refresh_crm
from tasks.reporting.land import land_reports
from tasks.ringostat.client import RingostatClient
from tasks.scenario import plan_calls
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.writer import execute_plans


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = results.get(label, 0.0) + time.perf_counter() - start


async def run(calls_per_day: int, seed: int, lost: float, workdir: Path) -> None:
    dataset = generate_demo(seed=seed, days=1, calls_per_day=calls_per_day)
    zoho_app = create_zoho()
    ringostat_app = create_ringostat(auth_key="bench-key")
    async with (
        httpx.AsyncClient(transport=zoho_transport(zoho_app), base_url="https://zoho.bench") as zh,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ringostat_app), base_url="https://rs.bench"
        ) as rh,
    ):
        (await zh.post("/__emulator__/seed", json=dataset.zoho_seed)).raise_for_status()
        rows = dataset.final_calls
        for i in range(0, len(rows), 2000):
            (await rh.post("/__emulator__/calls", json=rows[i : i + 2000])).raise_for_status()
        if lost:
            await zh.put("/__emulator__/faults", json={"lost_response_rate": lost, "seed": seed})
        overrides = dataset.config_overrides()
        overrides["ringostat"] |= {"base_url": "https://rs.bench", "auth_key": "bench-key"}
        settings = load_settings(
            overrides={
                **overrides,
                "zoho": {
                    "accounts_url": "https://zoho.bench",
                    "api_domain": "https://zoho.bench",
                    "client_id": "c",
                    "client_secret": "s",
                    "refresh_token": "r",
                },
                "store": {"url": f"sqlite:///{workdir / 'state.db'}"},
            }
        )
        store = Store(settings.store.url)
        zoho = ZohoClient(settings.zoho, zh)
        ringostat = RingostatClient(settings.ringostat, rh)
        start = datetime.combine(dataset.start, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
        end = start + timedelta(days=3)
        for attempt in ("first run", "rerun"):
            before = (await zh.get("/__emulator__/stats")).json()
            t: dict[str, float] = {}
            with timed("read (Ringostat)", t):
                read = await ringostat.fetch_window(start, end)
            with timed("ingest (store)", t):
                store.ingest(read, run_id=attempt)
            with timed("users + phone index", t):
                users, top = await load_users(zoho, settings)
                crm = await refresh_crm(zoho, store, settings, users, top)
            with timed("parse + normalize", t):
                calls, bad = parse_rows(store.work(), settings)
                store.record_unprocessable(bad, run_id=attempt)
            with timed("plan", t):
                plans = plan_calls(calls, crm.snapshot, crm.employees, settings, now=end)
                store.record_calls(calls, plans, run_id=attempt)
            with timed("write (Zoho + ledger)", t):
                report = await execute_plans(
                    [p for p in plans if p.status is PlanStatus.PLANNED], zoho, store
                )
            with timed("land DuckDB", t):
                land_reports(
                    store.engine, workdir / "reports.duckdb", company_timezone="Europe/Kyiv"
                )
            after = (await zh.get("/__emulator__/stats")).json()
            _print(attempt, len(read), t, before, after, report.counts)
            dump = (await zh.get("/__emulator__/dump")).json()
            keys = [
                r["rs_sync_key"]
                for m in ("Leads", "Tasks")
                for r in dump[m]
                if r.get("rs_sync_key")
            ]
            print(
                f"  in Zoho: {len(keys)} records written by callsync "
                f"({sum(1 for r in dump['Leads'] if r.get('rs_sync_key'))} leads), "
                f"{len(keys) - len(set(keys))} duplicates; call statuses {report.call_statuses}"
            )
        store.close()


def _print(
    title: str,
    n: int,
    t: dict[str, float],
    before: dict[str, Any],
    after: dict[str, Any],
    counts: dict[str, int],
) -> None:
    requests = after["requests"] - before["requests"]
    credits = after["credits"] - before["credits"]
    total = sum(t.values())
    print(f"\n== {title}: {n} call rows ==")
    for label, seconds in t.items():
        print(f"  {label:<24} {seconds:8.2f} s  {n / seconds if seconds else 0:10.0f} calls/s")
    print(f"  {'total':<24} {total:8.2f} s  {n / total:10.0f} calls/s")
    per_k = 1000 / max(n, 1)
    print(
        f"  Zoho API: {requests} requests, {credits} credits "
        f"→ {requests * per_k:.1f} requests and {credits * per_k:.1f} credits per 1,000 calls"
    )
    print(f"  writes: {dict(sorted(counts.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls in the generated day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lost", type=float, default=0.0, help="Zoho lost-response rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.calls, args.seed, args.lost, Path(tmp)))


if __name__ == "__main__":
    main()
