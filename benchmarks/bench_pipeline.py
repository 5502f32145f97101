"""Benchmark: the pipeline's stages on a generated day of calls, against both emulators in-process.

Runs the one pipeline (:class:`tasks.pipeline.Pipeline`) with a stage runner that times each
stage, and prints, per stage, the time taken and calls per second, and the Zoho API requests and
credits per 1,000 calls (counted by the Zoho emulator by Zoho's own credit rules). A second pass
over the same calls shows what a rerun costs (it should write nothing). Great Expectations and
Prefect are left out here (``callsync bench`` runs the real flow with both).

    .venv/bin/python benchmarks/bench_pipeline.py --calls 5000 [--seed 7] [--lost 0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from emulators.demo_data import generate_demo
from emulators.ringostat.app import create_app as create_ringostat
from emulators.zoho import transport as zoho_transport
from emulators.zoho.app import create_app as create_zoho
from models.settings import load_settings
from tasks.pipeline import Pipeline, open_context, run_plainly
from tasks.ringostat.cursor import Window


class TimedStages:
    """Runs the pipeline's stages plainly and adds up the seconds each stage name took."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    async def __call__(self, name: str, /, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return await run_plainly(name, *args)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


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
                "store": {
                    "url": f"sqlite:///{workdir / 'state.db'}",
                    "duckdb_path": str(workdir / "reports.duckdb"),
                },
            }
        )
        start = datetime.combine(dataset.start, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
        end = start + timedelta(days=3)
        async with open_context(
            settings,
            zoho_transport=zoho_transport(zoho_app),
            ringostat_transport=httpx.ASGITransport(app=ringostat_app),
        ) as ctx:
            for attempt in ("first run", "rerun"):
                before = (await zh.get("/__emulator__/stats")).json()
                stages = TimedStages()
                began = time.perf_counter()
                summary = await Pipeline(ctx, run_stage=stages).sync(
                    now=end, run_id=attempt, window=Window(start, end)
                )
                stages.seconds["(after the writes: DuckDB)"] = (
                    time.perf_counter() - began - sum(stages.seconds.values())
                )
                after = (await zh.get("/__emulator__/stats")).json()
                _print(attempt, summary.rows_read, stages.seconds, before, after, summary.writes)
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
                    f"{len(keys) - len(set(keys))} duplicates; call statuses {summary.by_status}"
                )


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
