"""``callsync simulate``: many companies through the work pool, on the emulators, measured.

N generated tenants (a day of calls each, :mod:`flows.simulate.world`) get an org and a project
each on one Zoho and one Ringostat emulator (served by this process), a file each in a tenants
directory, and one sync run each of the parameterised sync deployment (``callsync-sync/tenant-sync-<id>``,
``tenant-sync`` as deployed, under this simulation's name) on a process work pool of its own, submitted by the dispatcher (:mod:`flows.dispatch`) and taken
by W real ``prefect worker start`` processes. When every run has ended it checks the result per
tenant and prints one JSON object:

- ``duplicates``: records in Zoho beyond one per sync key, plus leads callsync created for a
  phone number that already had one of its leads;
- ``missing``: calls of the log that did not end synced, skipped or quarantined in the store,
  plus records the write ledger says were written that Zoho does not hold;
- ``failed_tenants``: tenants whose last run failed (or crashed); with ``--faulty K`` exactly the
  K with a revoked refresh token and the K with spent credits;
- ``restarted``: tenants whose run crashed (a worker could not start it: the Prefect server too
  busy to answer) and that were given the next tick, as the dispatcher does in service (up to
  :data:`RESTART_TICKS` ticks; the other tenants' next-tick runs would find nothing new and are
  not part of the measure);
- ``calls``, ``seconds`` (from the first run submitted to the last one ended), ``calls_per_s``
  (calls of the tenants that completed, per second), and what tells where the limit is: CPU
  used by the workers and their runs, by this process (the emulators) and by the Prefect server
  when it is callsync's own, the machine's busy share, run durations, the Zoho requests and the
  most requests any org had in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.dispatch import dispatch
from flows.runtime.pool import Workers, create_pool, deploy_tenant_flow, worker_env
from flows.simulate.world import (
    SimTenant,
    make_tenants,
    seed_emulators,
    window,
    write_tenants_dir,
)
from models.tables import CallRecord
from tasks.store import Store

FINAL_CALL_STATUSES = frozenset({"synced", "skipped", "quarantined"})
TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
ZOHO_MODULES = ("Leads", "Tasks", "Calls")
DEPLOYMENT = "tenant-sync"
RESTART_TICKS = 3


@dataclass(frozen=True)
class SimulationOptions:
    tenants: int
    workers: int
    calls_per_tenant: int = 200
    latency_ms: float = 150
    faulty: int = 0
    store_url: str = ""
    workdir: Path = Path(".callsync/simulate")
    api_url: str = ""
    org_concurrency: int = 10
    """The emulated orgs' concurrency allowance (429 past it)."""
    max_concurrency: int = 5
    runs_per_worker: int = 1
    timeout_s: float = 3600
    warm: bool = True
    """Runs forked from a warm process (:mod:`flows.runtime.warm_engine`), or started cold."""


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _proc_cpu_s(pid: int | None, *, children: bool = False) -> float | None:
    """CPU seconds of ``pid`` (and of its children it has reaped, with ``children``)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _server_pid(api_url: str) -> int | None:
    """The Prefect server's pid when it listens on this machine (its CPU is part of the cost)."""
    from urllib.parse import urlsplit

    port = urlsplit(api_url).port
    if port is None:
        return None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[3] == "0A" and int(cols[1].split(":")[1], 16) == port:
            inode = cols[9]
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    for fd in (proc / "fd").iterdir():
                        if os.readlink(fd) == f"socket:[{inode}]":
                            return int(proc.name)
                except OSError:
                    continue
    return None


def _wait_for_runs(deployment_id: Any, expected: int, timeout_s: float) -> list[Any]:
    """The deployment's ended runs, once at least ``expected`` have ended. Until then it only
    counts them (a count every 2 s; reading 200 runs every second was a tenth of the Prefect
    server's CPU: the measure's own load)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    ended = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType(s) for s in sorted(TERMINAL)])
        ),
    )
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while (done := client.count_flow_runs(flow_run_filter=ended)) < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {expected} runs ended within {timeout_s:.0f}s")
            time.sleep(2)  # a poll of the Prefect API, not a test's wait
        runs: list[Any] = []
        while True:
            page = client.read_flow_runs(flow_run_filter=ended, limit=200, offset=len(runs))
            runs += page
            if len(page) < 200:
                return runs


def _phone_key(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())[-9:]


def check_tenant(
    http: httpx.Client, zoho_url: str, store_url: str, tenant: SimTenant
) -> dict[str, int]:
    """Duplicates and missing records of one tenant (module docstring)."""
    dump = http.get(f"{zoho_url}/__emulator__/orgs/{tenant.name}/dump").json()
    keys = Counter(
        str(r["rs_sync_key"]) for m in ZOHO_MODULES for r in dump.get(m, []) if r.get("rs_sync_key")
    )
    ours = Counter(
        _phone_key(r.get("Phone")) for r in dump.get("Leads", []) if r.get("rs_sync_key")
    )
    duplicates = sum(n - 1 for n in keys.values() if n > 1) + sum(
        n - 1 for k, n in ours.items() if k and n > 1
    )
    expected = {str(r["uniqueid"]) for r in tenant.calls if r.get("uniqueid")}
    store = Store(store_url, tenant=tenant.name)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(col(CallRecord.uniqueid), col(CallRecord.status)))
            statuses: dict[str, str] = {str(uid): str(status) for uid, status in rows}
        written = store.created_keys(ZOHO_MODULES)
    finally:
        store.close()
    in_zoho = {str(r["id"]) for m in ZOHO_MODULES for r in dump.get(m, [])}
    missing = sum(1 for uid in expected if statuses.get(uid) not in FINAL_CALL_STATUSES)
    missing += sum(1 for zoho_id in written if zoho_id not in in_zoho)
    return {"duplicates": duplicates, "missing": missing, "calls": len(tenant.calls)}


def simulate(opts: SimulationOptions) -> dict[str, Any]:
    """Run the simulation (module docstring); the caller has pointed Prefect at its server."""
    from flows.sync import sync_calls

    workdir = opts.workdir.resolve()
    run_id = uuid.uuid4().hex[:6]
    prefix = f"sim-{run_id}"
    tenants_dir = workdir / f"tenants-{run_id}"
    store_url = opts.store_url or f"sqlite:///{workdir / 'state.db'}"
    tenants = make_tenants(
        opts.tenants, calls_per_tenant=opts.calls_per_tenant, faulty=opts.faulty, prefix=prefix
    )
    start_at, end_at = window()
    zoho_app = create_zoho()
    with (
        BackgroundServer(zoho_app) as zoho,
        BackgroundServer(create_ringostat(auth_key=f"{prefix}-unused")) as ringostat,
        httpx.Client(timeout=120) as http,
    ):
        seed_emulators(
            http,
            zoho.url,
            ringostat.url,
            tenants,
            latency_ms=opts.latency_ms,
            org_concurrency=opts.org_concurrency,
        )
        write_tenants_dir(
            tenants_dir,
            tenants,
            store_url=store_url,
            zoho_url=zoho.url,
            ringostat_url=ringostat.url,
            max_concurrency=opts.max_concurrency,
        )
        Store(store_url).close()  # the schema, before W workers race to create it
        pool = f"callsync-{prefix}"
        create_pool(pool)
        deployment = deploy_tenant_flow(
            sync_calls,
            name=f"{DEPLOYMENT}-{run_id}",  # this simulation's runs only
            pool=pool,
            tenants_dir=tenants_dir,
            parameters={"window_from": start_at, "window_to": end_at},
            warm=opts.warm,
        )
        env = worker_env(opts.api_url)
        with Workers(
            pool, opts.workers, env=env, logs=workdir / f"logs-{run_id}", limit=opts.runs_per_worker
        ) as workers:
            workers.wait_ready()
            server_pid = _server_pid(opts.api_url)
            server_cpu0 = _proc_cpu_s(server_pid)
            warm0 = _warm_cpu_s()
            self0 = resource.getrusage(resource.RUSAGE_SELF)
            busy0, total0 = _cpu_busy()
            started = time.monotonic()
            _tick(deployment, tenants_dir)
            deployment_id = _deployment_id(deployment)
            runs = _wait_for_runs(deployment_id, len(tenants), opts.timeout_s)
            restarted: list[str] = []
            for _ in range(RESTART_TICKS):
                crashed = crashed_tenants(runs)
                if not crashed:
                    break
                restarted += crashed
                more = _tick(deployment, tenants_dir, only=crashed)
                runs = _wait_for_runs(deployment_id, len(runs) + more, opts.timeout_s)
            seconds = time.monotonic() - started
            busy1, total1 = _cpu_busy()
            self1 = resource.getrusage(resource.RUSAGE_SELF)
            server_cpu1 = _proc_cpu_s(server_pid)
            warm1 = _warm_cpu_s()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        orgs = http.get(f"{zoho.url}/__emulator__/orgs").json()["orgs"]
        failed = sorted(t for t, r in last_runs(runs).items() if r.state.type.value != "COMPLETED")
        checks = {
            t.name: check_tenant(http, zoho.url, store_url, t)
            for t in tenants
            if t.name not in failed
        }
    completed_calls = sum(c["calls"] for c in checks.values())
    durations = sorted(r.total_run_time.total_seconds() for r in runs if r.total_run_time)
    return {
        "tenants": opts.tenants,
        "workers": opts.workers,
        "calls": completed_calls,
        "seconds": round(seconds, 1),
        "calls_per_s": round(completed_calls / seconds, 2) if seconds else 0.0,
        "duplicates": sum(c["duplicates"] for c in checks.values()),
        "missing": sum(c["missing"] for c in checks.values()),
        "failed_tenants": failed,
        "restarted": restarted,
        "expected_failures": sorted(t.name for t in tenants if t.fault),
        "tenants_with_duplicates": sorted(t for t, c in checks.items() if c["duplicates"]),
        "tenants_with_missing": sorted(t for t, c in checks.items() if c["missing"]),
        "latency_ms": opts.latency_ms,
        "calls_per_tenant": opts.calls_per_tenant,
        "store": store_url.split("://", 1)[0],
        "run_seconds_p50": _pct(durations, 0.5),
        "run_seconds_p95": _pct(durations, 0.95),
        "zoho_requests": sum(o["requests"] for o in orgs.values()),
        "zoho_max_in_flight_per_org": max((o["max_in_flight"] for o in orgs.values()), default=0),
        "org_concurrency_allowed": opts.max_concurrency,
        "cpu_s_workers": round(children.ru_utime + children.ru_stime, 1),
        "cpu_s_runs": round(warm1 - warm0, 1),
        "cpu_s_emulators": round(
            (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime), 1
        ),
        "cpu_s_prefect_server": (
            round(server_cpu1 - server_cpu0, 1)
            if server_cpu0 is not None and server_cpu1 is not None
            else None
        ),
        "machine_busy_share": round((busy1 - busy0) / (total1 - total0), 2)
        if total1 > total0
        else None,
        "cores": os.cpu_count(),
        "warm_starts": opts.warm,
        "tenants_dir": str(tenants_dir),
    }


def _tick(deployment: str, tenants_dir: Path, *, only: Sequence[str] | None = None) -> int:
    """One dispatcher tick (and more while the server was too busy to take every run): how many
    runs it created."""
    created = 0
    while True:
        out = asyncio.run(dispatch(deployment, tenants_dir=str(tenants_dir), only=only))
        created += int(out["submitted"])
        if not out["left_for_next_tick"]:
            return created


def last_runs(runs: Sequence[Any]) -> dict[str, Any]:
    """Each tenant's most recently created run."""
    latest: dict[str, Any] = {}
    for run in sorted(runs, key=lambda r: r.created):
        latest[_run_tenant(run)] = run
    return latest


def crashed_tenants(runs: Sequence[Any]) -> list[str]:
    """Tenants whose last run crashed (a failed run is the tenant's own failure: not retried)."""
    return sorted(t for t, r in last_runs(runs).items() if r.state.type.value == "CRASHED")


def _warm_cpu_s() -> float:
    """CPU seconds of the warm-start server and the runs it forked (0 before it started)."""
    from flows.runtime.warm_engine import server_pid

    return _proc_cpu_s(server_pid(), children=True) or 0.0


def _deployment_id(name: str) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name).id


def _run_tenant(run: Any) -> str:
    return str(run.parameters.get("tenant"))


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def print_result(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def run_simulation(opts: SimulationOptions) -> dict[str, Any]:
    """The simulation against ``PREFECT_API_URL``, else a Prefect server of the simulation's own
    (in its working directory, left running for the next simulation)."""
    from dataclasses import replace

    from flows.runtime.prefect_server import point_prefect_at, resolve_prefect_home

    target = resolve_prefect_home(opts.workdir.resolve() / "prefect", startup_timeout_s=300)
    assert target is not None
    point_prefect_at(target)
    return simulate(replace(opts, api_url=target.api_url))
