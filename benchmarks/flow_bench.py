"""``callsync bench``: the real sync flow (Prefect and GX included) against both emulators.

The parent process generates a day of ``calls`` calls, serves both emulators on 127.0.0.1 (Zoho
answering after ``latency_ms`` with at most ``concurrency`` requests in flight), starts a local
Prefect server, and runs every sync in a child process of its own, as a scheduled run would be:

1. the first pass over the whole day;
2. the rerun of the same window (everything already synced: it must write nothing);
3. ``idle_runs`` scheduled runs with no new calls (the steady state of a run every minute);
4. one scheduled run with ``steady_calls`` new calls (20: a busy minute).

Each child reports its wall seconds per stage (the flow's tasks, Prefect overhead included, and
the steps around them), its peak RSS and the flow's summary; the parent adds the Zoho requests and
credits the emulator counted for it, the floor (records ÷ 10 credits, ÷ 100 requests) and the
ratios, and, on a sample of calls, what a per-call integration (a search and an insert per
record) would have cost against a fresh copy of the same org. One JSON object on stdout.

    callsync bench --calls 10000 [--latency-ms 150] [--concurrency 10] [--idle-runs 3]
    python -m benchmarks.flow_bench --calls 10000          # the same, without the CLI

The figures depend on the machine: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

CHILD_FLAG = "--child"
TIMEZONE = "Europe/Kyiv"
STORE_METHODS = (
    "ingest",
    "work",
    "record_unprocessable",
    "record_calls",
    "quarantine_calls",
    "start_run",
    "finish_run",
    "set_cursor",
    "get_cursor",
)


# --- the child: one flow run, timed ------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``ru_maxrss`` carries over the parent's
    resident size at fork and keeps it through exec (a child of a bench that holds a large
    generated day would report the parent's memory); ``VmHWM`` is this process's own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageClock:
    """Wall seconds per stage, summed over calls (nested stages are counted in both)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}
        """The process's peak RSS when each stage last ended: where memory grows."""

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.peak_mb[name] = round(peak_rss_mb(), 1)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._await(name, start, result)
            self.add(name, time.perf_counter() - start)
            return result

        return timed

    async def _await(self, name: str, start: float, awaitable: Any) -> Any:
        try:
            return await awaitable
        finally:
            self.add(name, time.perf_counter() - start)


@contextmanager
def instrumented(clock: StageClock) -> Iterator[None]:
    """Time every task of the sync flow and the steps around them, whatever the code version;
    everything is put back on exit."""
    import flows.sync as sync_module
    from expectations.runner import GxRunner
    from tasks import steps
    from tasks.store import Store

    patched: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        patched.append((owner, name, original))
        setattr(owner, name, clock.wrap(label, original))

    make_runner = steps.stage_runner

    def timed_runner(*args: Any, **kwargs: Any) -> Any:
        run = make_runner(*args, **kwargs)

        def timed(name: str, /, *stage_args: Any) -> Any:
            return clock.wrap(f"task:{name}", run)(name, *stage_args)

        return timed

    patched.append((steps, "stage_runner", make_runner))
    steps.stage_runner = timed_runner
    for name in ("publish_conversion_table", "publish_summary"):
        if hasattr(sync_module, name):
            patch(sync_module, name, f"step:{name}")
    import tasks.pipeline.run as run_module

    patch(run_module, "_land", "step:land")
    patch(GxRunner, "build_docs", "step:build_docs")
    for name in STORE_METHODS:
        if hasattr(Store, name):
            patch(Store, name, f"store:{name}")
    try:
        yield
    finally:
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)


def run_child(params: dict[str, Any]) -> dict[str, Any]:
    """One sync run, timed (in a child process of its own, or in-process for the smoke test)."""
    started = time.perf_counter()
    from flows.sync import sync_calls  # Prefect, the clients, the store

    imported = time.perf_counter()
    clock = StageClock()
    as_of = datetime.fromisoformat(params["as_of"])
    kwargs: dict[str, Any] = {"config": params["config"], "as_of": as_of}
    if params.get("window_from"):
        kwargs |= {"window_from": params["window_from"], "window_to": params["window_to"]}
    with instrumented(clock):
        summary = asyncio.run(sync_calls(**kwargs))
    finished = time.perf_counter()
    rss_kb = peak_rss_mb() * 1024
    summary.pop("plans", None)
    quarantined = summary.pop("quarantined", [])
    failures = summary.pop("failures", [])
    summary["quarantined_count"] = len(quarantined)
    summary["failures_count"] = len(failures)
    flow_s = finished - imported
    return {
        "import_s": round(imported - started, 3),
        "flow_s": round(flow_s, 3),
        "stages_s": {k: round(v, 3) for k, v in sorted(clock.seconds.items())},
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "peak_rss_mb_after": dict(sorted(clock.peak_mb.items(), key=lambda kv: kv[1])),
        "summary": summary,
    }


# --- the parent: emulators, Prefect server, the runs, the figures ------------------------------


@contextmanager
def _prefect_server(home: Path, *, in_process: bool) -> Iterator[dict[str, str]]:
    """A local Prefect server for the child processes (none in-process: the caller's API)."""
    if in_process:
        yield {}
        return
    from flows.runtime.prefect_server import LocalPrefectServer

    server = LocalPrefectServer(home).start()
    try:
        yield {
            "PREFECT_API_URL": server.api_url,
            "PREFECT_HOME": str(home.resolve()),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    finally:
        server.stop()


class Runner:
    def __init__(
        self,
        http: Any,
        zoho_url: str,
        ringostat_url: str,
        env: dict[str, str],
        *,
        in_process: bool,
    ) -> None:
        self.in_process = in_process
        self.http = http
        self.zoho_url = zoho_url
        self.ringostat_url = ringostat_url
        self.env = {**os.environ, **env}

    def stats(self) -> tuple[dict[str, Any], int]:
        zoho = self.http.get(f"{self.zoho_url}/__emulator__/stats").json()
        ringostat = self.http.get(f"{self.ringostat_url}/__emulator__/stats").json()
        return zoho, int(ringostat["requests"])

    def run(self, params: dict[str, Any]) -> dict[str, Any]:
        """One sync in a child process; its report plus what the emulators counted for it."""
        before, rs_before = self.stats()
        started = time.perf_counter()
        report = run_child(params) if self.in_process else self._child(params)
        process_s = time.perf_counter() - started
        after, rs_after = self.stats()
        routes: dict[str, int] = {}
        for route, counts in after.get("by_route", {}).items():
            old = before.get("by_route", {}).get(route, {}).get("requests", 0)
            if counts["requests"] - old:
                routes[route] = counts["requests"] - old
        report |= {
            "process_s": round(process_s, 3),
            "zoho_requests": after["requests"] - before["requests"],
            "zoho_credits": after["credits"] - before["credits"],
            "zoho_requests_by_route": dict(sorted(routes.items())),
            "ringostat_requests": rs_after - rs_before,
        }
        return report

    def _child(self, params: dict[str, Any]) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.flow_bench", CHILD_FLAG, json.dumps(params)],
            env=self.env,
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark run failed:\n{proc.stderr[-4000:]}")
        report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return report


def _records_written(summary: dict[str, Any]) -> int:
    """Records created or updated in Zoho by this run (the writer's ``…/success`` counts)."""
    return sum(
        n for key, n in summary.get("writes", {}).items() if key.endswith(("success", "duplicate"))
    )


def _baseline(
    dataset: Any, state_db: Path, calls: int, sample: int, latency_ms: float
) -> dict[str, Any]:
    """A per-call integration on a sample: per call one phone search, one insert per record."""
    import httpx
    from sqlalchemy import create_engine, text

    from emulators.zoho.app import create_app
    from emulators.zoho.inprocess import transport

    engine = create_engine(f"sqlite:///{state_db}")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.uniqueid, c.phone_key, w.module, w.payload_json FROM calls c "
                "LEFT JOIN crm_writes w ON w.uniqueid = c.uniqueid "
                "WHERE c.status NOT IN ('quarantined') ORDER BY c.uniqueid"
            )
        ).all()
    engine.dispose()
    per_call: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {}
    for uid, phone, module, payload in rows:
        entry = per_call.setdefault(uid, (phone or "", []))
        if module:
            fields = json.loads(payload).get("fields", {}) if payload else {}
            entry[1].append((module, fields))
    uids = sorted(per_call)
    step = max(1, len(uids) // max(sample, 1))
    picked = uids[::step][:sample]

    async def go() -> dict[str, Any]:
        app = create_app()
        async with httpx.AsyncClient(transport=transport(app), base_url="https://zoho.base") as h:
            (await h.post("/__emulator__/seed", json=dataset.zoho_seed)).raise_for_status()
            token = (
                await h.post(
                    "/oauth/v2/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": "r",
                        "client_id": "c",
                        "client_secret": "s",
                    },
                )
            ).json()["access_token"]
            auth = {"Authorization": f"Zoho-oauthtoken {token}"}
            before = (await h.get("/__emulator__/stats")).json()
            for uid in picked:
                phone, writes = per_call[uid]
                await h.get("/crm/v8/Leads/search", params={"phone": phone or "0"}, headers=auth)
                for module, fields in writes:
                    await h.post(f"/crm/v8/{module}", json={"data": [fields]}, headers=auth)
            after = (await h.get("/__emulator__/stats")).json()
        requests = after["requests"] - before["requests"]
        credits = after["credits"] - before["credits"]
        scale = calls / max(len(picked), 1)
        return {
            "sample_calls": len(picked),
            "sample_requests": requests,
            "sample_credits": credits,
            "requests_for_all_calls": round(requests * scale),
            "credits_for_all_calls": round(credits * scale),
            "latency_bound_s_at_concurrency_1": round(requests * scale * latency_ms / 1000, 1),
        }

    return asyncio.run(go())


def run_bench(
    *,
    calls: int,
    latency_ms: float = 150.0,
    concurrency: int = 10,
    seed: int = 7,
    idle_runs: int = 3,
    baseline_sample: int = 200,
    steady_calls: int = 20,
    workdir: Path | None = None,
    in_process: bool = False,
) -> dict[str, Any]:
    """The whole benchmark; ``in_process`` runs the flows in this process under whatever Prefect
    API it is configured for (the test suite's harness) instead of child processes and a server."""
    import httpx

    from emulators.demo_data import generate_demo
    from flows.demo.emulate import post_calls, running_emulators
    from flows.demo.run import write_config

    tmp = Path(tempfile.mkdtemp(prefix="callsync-bench-")) if workdir is None else workdir
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        dataset = generate_demo(seed=seed, days=1, calls_per_day=calls, timezone=TIMEZONE)
        with (
            _prefect_server(tmp / "prefect", in_process=in_process) as env,
            running_emulators(auth_key="bench-key") as emu,
            httpx.Client(timeout=120) as http,
        ):
            http.post(
                f"{emu.zoho_url}/__emulator__/seed", json=dataset.zoho_seed
            ).raise_for_status()
            post_calls(http, emu, dataset.final_calls)
            http.put(
                f"{emu.zoho_url}/__emulator__/faults",
                json={"latency_ms": latency_ms, "concurrency_limit": concurrency},
            ).raise_for_status()
            config = str(
                write_config(
                    tmp,
                    emu,
                    dataset,
                    days=2,
                    zoho={"max_concurrency": concurrency, "org_max_concurrency": concurrency},
                    webhook=False,
                )
            )
            runner = Runner(http, emu.zoho_url, emu.ringostat_url, env, in_process=in_process)
            as_of = dataset.phase_times[-1] + timedelta(hours=1)
            first = runner.run({"config": config, "as_of": as_of.isoformat()})
            window = {
                "window_from": first["summary"]["window_start"],
                "window_to": first["summary"]["window_end"],
            }
            rerun = runner.run({"config": config, "as_of": as_of.isoformat(), **window})
            idle = [
                runner.run({"config": config, "as_of": (as_of + timedelta(minutes=n)).isoformat()})
                for n in range(1, idle_runs + 1)
            ]
            steady_at = as_of + timedelta(minutes=idle_runs + 1)
            post_calls(http, emu, _new_calls(dataset.final_calls, steady_calls, steady_at))
            steady = runner.run({"config": config, "as_of": steady_at.isoformat()})
        baseline = _baseline(dataset, tmp / "state.db", calls, baseline_sample, latency_ms)
    finally:
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
    figures = _figures(calls, latency_ms, concurrency, first, rerun, idle, baseline)
    figures["steady"] = {
        "new_calls": steady_calls,
        "flow_s": steady["flow_s"],
        "process_s": steady["process_s"],
        "import_s": steady["import_s"],
        "zoho_requests": steady["zoho_requests"],
        "zoho_credits": steady["zoho_credits"],
        "records_written": _records_written(steady["summary"]),
        "stages_s": steady["stages_s"],
        "zoho_requests_by_route": steady["zoho_requests_by_route"],
    }
    return figures


def _new_calls(rows: list[dict[str, Any]], count: int, at: datetime) -> list[dict[str, Any]]:
    """``count`` calls shaped like the day's, new ids, ended a minute before ``at``: the next
    scheduled run's work (callers both new and known)."""
    local = at.astimezone(ZoneInfo(TIMEZONE)) - timedelta(minutes=1)
    picked = [r for r in rows if str(r.get("calldate", "")).count("-") == 2][:count]
    return [
        dict(row)
        | {
            "uniqueid": f"steady-{n}-{row.get('uniqueid')}",
            "calldate": (local - timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S"),
        }
        for n, row in enumerate(picked)
    ]


def _figures(
    calls: int,
    latency_ms: float,
    concurrency: int,
    first: dict[str, Any],
    rerun: dict[str, Any],
    idle: list[dict[str, Any]],
    baseline: dict[str, Any],
) -> dict[str, Any]:
    records = _records_written(first["summary"])
    floor_credits = math.ceil(records / 10)
    floor_requests = math.ceil(records / 100)
    rows = first["summary"].get("rows_read", 0)

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 2) if b else None

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in idle), 3) if idle else 0.0

    return {
        "calls": calls,
        "zoho_latency_ms": latency_ms,
        "zoho_concurrency_limit": concurrency,
        "first_pass": {
            "rows_read": rows,
            "process_s": first["process_s"],
            "import_s": first["import_s"],
            "flow_s": first["flow_s"],
            "calls_per_s": round(calls / first["flow_s"], 1) if first["flow_s"] else None,
            "stages_s": first["stages_s"],
            "peak_rss_mb": first["peak_rss_mb"],
            "peak_rss_mb_after": first["peak_rss_mb_after"],
            "records_written": records,
            "zoho_requests": first["zoho_requests"],
            "zoho_credits": first["zoho_credits"],
            "floor_requests": floor_requests,
            "floor_credits": floor_credits,
            "requests_vs_floor": ratio(first["zoho_requests"], floor_requests),
            "credits_vs_floor": ratio(first["zoho_credits"], floor_credits),
            "zoho_requests_by_route": first["zoho_requests_by_route"],
            "ringostat_requests": first["ringostat_requests"],
            "ringostat_requests_ideal": math.ceil(rows / 6500) + 1,
            "by_status": first["summary"].get("by_status"),
        },
        "per_call_baseline": baseline
        | {
            "credits_ratio": ratio(baseline["credits_for_all_calls"], first["zoho_credits"]),
            "requests_ratio": ratio(baseline["requests_for_all_calls"], first["zoho_requests"]),
        },
        "rerun": {
            "process_s": rerun["process_s"],
            "flow_s": rerun["flow_s"],
            "stages_s": rerun["stages_s"],
            "peak_rss_mb": rerun["peak_rss_mb"],
            "zoho_requests": rerun["zoho_requests"],
            "zoho_credits": rerun["zoho_credits"],
            "records_written": _records_written(rerun["summary"]),
            "requests_vs_floor": ratio(rerun["zoho_requests"], floor_requests),
            "credits_vs_floor": ratio(rerun["zoho_credits"], floor_credits),
            "zoho_requests_by_route": rerun["zoho_requests_by_route"],
            "ringostat_requests": rerun["ringostat_requests"],
        },
        "idle": {
            "runs": len(idle),
            "median_flow_s": median("flow_s"),
            "median_process_s": median("process_s"),
            "median_import_s": median("import_s"),
            "zoho_credits": [r["zoho_credits"] for r in idle],
            "zoho_requests": [r["zoho_requests"] for r in idle],
            "flow_s": [r["flow_s"] for r in idle],
            "stages_s_last": idle[-1]["stages_s"] if idle else {},
            "zoho_requests_by_route_last": idle[-1]["zoho_requests_by_route"] if idle else {},
        },
    }


def main(argv: list[str] | None = None) -> None:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == [CHILD_FLAG]:
        print(json.dumps(run_child(json.loads(args_list[1])), default=str))
        return
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.flow_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--idle-runs", type=int, default=3)
    parser.add_argument("--baseline-sample", type=int, default=200)
    parser.add_argument("--steady-calls", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(args_list)
    result = run_bench(
        calls=args.calls,
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        seed=args.seed,
        idle_runs=args.idle_runs,
        baseline_sample=args.baseline_sample,
        steady_calls=args.steady_calls,
        workdir=args.workdir,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
