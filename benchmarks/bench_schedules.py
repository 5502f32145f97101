"""Benchmark: how a Prefect server bears N tenants' minute-by-minute syncs, two ways.

1. **One schedule per tenant** on the one parameterised deployment (``Interval(60,
   parameters={"tenant": ...})`` × N): how long registering takes, how many scheduled runs the
   scheduler keeps in the database, the server's CPU over ``--watch`` seconds, and what adding
   one tenant (a redeploy of the schedules) costs and whether it doubles any run.
2. **The dispatcher** (:mod:`flows.dispatch`, what callsync uses): one tick that gives each of
   the N tenants a run — its seconds and the server's CPU.

On a Prefect server of its own (a fresh database, so nothing else is counted), with a work pool
no worker serves: runs are only created, never executed.

    .venv/bin/python benchmarks/bench_schedules.py [--tenants 200] [--watch 90]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import tomli_w

from flows.runtime.prefect_server import LocalPrefectServer, point_prefect_at
from flows.simulate.run import _proc_cpu_s, _server_pid


def _scheduled_runs(deployment_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])
                ),
                limit=200,
                offset=len(runs),
            )
            runs += page
            if len(page) < 200:
                return runs


def _deploy(name: str, tenants: list[str], pool: str) -> Any:
    from prefect.schedules import Interval
    from prefect.types.entrypoint import EntrypointType

    from flows.sync import sync_calls

    deployment = sync_calls.to_deployment(
        name=name,
        entrypoint_type=EntrypointType.MODULE_PATH,
        work_pool_name=pool,
        schedules=[Interval(60, parameters={"tenant": t}) for t in tenants],
    )
    return deployment.apply()  # type: ignore[union-attr]  # sync context: the deployment


def per_tenant_schedules(
    tenants: list[str], pool: str, watch_s: float, pid: int | None
) -> dict[str, Any]:
    cpu0 = _proc_cpu_s(pid)
    start = time.perf_counter()
    deployment_id = _deploy("per-tenant", tenants, pool)
    registered = time.perf_counter() - start
    time.sleep(watch_s)  # the scheduler's own loops: what they make of N schedules
    runs = _scheduled_runs(deployment_id)
    cpu1 = _proc_cpu_s(pid)
    time.sleep(60)  # a minute of the steady state: the scheduler keeps its hour ahead
    steady = _proc_cpu_s(pid)
    start = time.perf_counter()
    _deploy("per-tenant", [*tenants, "one-more"], pool)  # a tenant added: the schedules redeployed
    redeployed = time.perf_counter() - start
    time.sleep(min(watch_s, 30))
    after = _scheduled_runs(deployment_id)
    twice = Counter((r.parameters.get("tenant"), r.expected_start_time) for r in after)
    return {
        "register_s": round(registered, 1),
        "scheduled_runs_kept": len(runs),
        "scheduled_runs_per_tenant": round(len(runs) / len(tenants), 1),
        "server_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 1),
        "watch_s": watch_s,
        "server_cpu_s_next_minute": None
        if cpu1 is None or steady is None
        else round(steady - cpu1, 1),
        "redeploy_one_more_tenant_s": round(redeployed, 1),
        "runs_doubled_after_redeploy": sum(n - 1 for n in twice.values() if n > 1),
    }


def dispatcher(tenants: list[str], pool: str, pid: int | None, workdir: Path) -> dict[str, Any]:
    from flows.dispatch import dispatch
    from flows.runtime.pool import deploy_tenant_flow
    from flows.sync import sync_calls

    directory = workdir / "tenants"
    directory.mkdir()
    (directory / "installation.toml").write_bytes(
        tomli_w.dumps({"store": {"url": f"sqlite:///{workdir / 'state.db'}"}}).encode()
    )
    for t in tenants:
        (directory / f"{t}.toml").write_text("")
    name = deploy_tenant_flow(sync_calls, name="dispatched", pool=pool, tenants_dir=directory)
    cpu0 = _proc_cpu_s(pid)
    start = time.perf_counter()
    first = asyncio.run(dispatch(name, tenants_dir=str(directory)))
    tick = time.perf_counter() - start
    start = time.perf_counter()
    second = asyncio.run(dispatch(name, tenants_dir=str(directory)))
    busy_tick = time.perf_counter() - start
    cpu1 = _proc_cpu_s(pid)
    return {
        "tick_s": round(tick, 1),
        "runs_submitted": first["submitted"],
        "next_tick_s_all_busy": round(busy_tick, 1),
        "next_tick_submitted": second["submitted"],
        "server_cpu_s_both_ticks": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--watch", type=float, default=90)
    args = parser.parse_args()
    tenants = [f"t-{i:04d}" for i in range(args.tenants)]
    with tempfile.TemporaryDirectory() as tmp, LocalPrefectServer(Path(tmp) / "prefect") as server:
        from flows.runtime.prefect_server import PrefectTarget

        point_prefect_at(PrefectTarget(server.api_url, server.home))
        from flows.runtime.pool import create_pool

        create_pool("bench-schedules")
        pid = _server_pid(server.api_url)
        result = {
            "tenants": args.tenants,
            "dispatcher": dispatcher(tenants, "bench-schedules", pid, Path(tmp)),
            "per_tenant_schedules": per_tenant_schedules(
                tenants, "bench-schedules", args.watch, pid
            ),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
