"""Many companies through the Prefect process work pool, with real processes, on PostgreSQL.

- ``callsync simulate`` (small): generated tenants on the multi-org emulators, run by two real
  ``prefect worker start`` processes: every tenant completes without a duplicate or a missing
  record, except exactly the one with a revoked refresh token and the one with spent credits.
- The same on a Prefect server of the simulation's own whose database is PostgreSQL
  (``PREFECT_SERVER_DATABASE_CONNECTION_URL``, the setting the README gives for many companies):
  the runs are in that database.
- A worker SIGKILLed (with its run) in the middle of a tenant's run: the next dispatcher tick
  marks the run crashed and gives the tenant to the other worker, which finishes it; nothing is
  written to Zoho twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.prefect_server import LocalPrefectServer
from flows.runtime.warm_engine import server_pid
from tests.flows.test_lease_processes import WriteGate
from tests.support.databases import fresh_postgres_database
from tests.support.processes import Command


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def client_env(tmp_path: Path, prefect_server: LocalPrefectServer) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALLSYNC_"))}
    env.update(
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_HOME=str(tmp_path / "client-home"),
        DO_NOT_TRACK="1",
        CALLSYNC_STEP_RETRY_DELAYS_S="0,0",
    )
    yield env
    pid = server_pid()  # the warm-start server the runs were forked from
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def test_simulated_companies_complete_except_the_two_faulty_ones(
    tmp_path: Path, pg_url: str, client_env: dict[str, str]
) -> None:
    args = ["simulate", "--tenants", "4", "--workers", "2", "--calls-per-tenant", "20"]
    args += ["--faulty", "1", "--store-url", pg_url, "--workdir", str(tmp_path / "sim")]
    command = Command(args, client_env, tmp_path)
    code = command.finish()
    out = "".join(command.output)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert code == 0, out
    assert result["failed_tenants"] == result["expected_failures"], out
    assert [t.rsplit("-", 1)[1] for t in result["failed_tenants"]] == ["0001", "0002"]
    assert result["duplicates"] == 0 and result["missing"] == 0, out
    assert result["calls"] == 2 * 20 and result["tenants"] == 4 and result["workers"] == 2
    assert result["zoho_max_in_flight_per_org"] <= result["org_concurrency_allowed"]


def test_the_simulations_own_prefect_server_keeps_its_runs_in_postgresql(
    tmp_path: Path, pg_url: str, client_env: dict[str, str]
) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from flows.runtime.prefect_server import InstallationServer

    with fresh_postgres_database() as prefect_db:
        env = {k: v for k, v in client_env.items() if k != "PREFECT_API_URL"}
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = (
            make_url(prefect_db).set(drivername="postgresql+asyncpg").render_as_string(False)
        )
        workdir = tmp_path / "sim"
        args = ["simulate", "--tenants", "2", "--workers", "1", "--calls-per-tenant", "10"]
        args += ["--store-url", pg_url, "--workdir", str(workdir)]
        command = Command(args, env, tmp_path)
        try:
            code = command.finish()
        finally:
            InstallationServer(workdir / "prefect").stop()
        out = "".join(command.output)
        assert code == 0, out
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        assert result["failed_tenants"] == [] and result["calls"] == 2 * 10, out
        assert not (workdir / "prefect" / "prefect.db").exists()
        libpq = make_url(prefect_db).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(libpq) as conn:
            row = conn.execute(
                "SELECT count(*) FROM flow_run WHERE state_type = 'COMPLETED'"
                " AND parameters ->> 'tenant' LIKE 'sim-%'"
            ).fetchone()
        assert row is not None and row[0] == 2, out


def _run_child_pid(url: str, tenant: str) -> int:
    """The pid of the process holding ``tenant``'s run lease (its row names it)."""
    from models.tables import LeaseRecord
    from tasks.lease import LEASE_NAME
    from tasks.store import Store

    store = Store(url, tenant=tenant)
    try:
        held = store.lease_holder(LEASE_NAME)
    finally:
        store.close()
    assert held is not None and held.process is not None, LeaseRecord.__tablename__
    return held.process.pid


def test_a_sigkilled_workers_tenant_is_taken_by_another_worker_within_one_tick(
    tmp_path: Path, pg_url: str, client_env: dict[str, str], prefect_harness: None
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import wait_for_flow_run

    from flows.dispatch import dispatch
    from flows.runtime.pool import Workers, create_pool, deploy_tenant_flow, worker_env
    from flows.simulate.run import check_tenant
    from flows.simulate.world import make_tenants, seed_emulators, window, write_tenants_dir
    from flows.sync import sync_calls

    (tenant,) = make_tenants(1, calls_per_tenant=30, faulty=0, prefix="kill")
    zoho_app = create_zoho()
    gate = WriteGate(zoho_app)
    tenants_dir = tmp_path / "tenants"
    with (
        BackgroundServer(gate) as zoho,
        BackgroundServer(create_ringostat(auth_key="unused")) as ringostat,
        httpx.Client(timeout=60) as http,
    ):
        seed_emulators(http, zoho.url, ringostat.url, [tenant], latency_ms=0, org_concurrency=10)
        write_tenants_dir(
            tenants_dir,
            [tenant],
            store_url=pg_url,
            zoho_url=zoho.url,
            ringostat_url=ringostat.url,
            max_concurrency=5,
        )
        create_pool("kill-test")
        start_at, end_at = window()
        deployment = deploy_tenant_flow(
            sync_calls,
            name="tenant-sync-kill",
            pool="kill-test",
            tenants_dir=tenants_dir,
            parameters={"window_from": start_at, "window_to": end_at},
        )
        env = worker_env(client_env["PREFECT_API_URL"], client_env)
        with Workers("kill-test", 2, env=env, logs=tmp_path / "logs") as workers:
            workers.wait_ready()
            first = asyncio.run(dispatch(deployment, tenants_dir=str(tenants_dir)))
            assert first["submitted"] == 1
            assert gate.entered.wait(timeout=300), "the tenant's run never wrote"

            # The machine of the worker running it dies: the worker first (so that nobody is
            # left to report the run), then the run's processes.
            run_pid = _run_child_pid(pg_url, tenant.name)
            busy = [(p.pid, c) for p in workers.procs for c in _children(p.pid)]
            assert len(busy) == 1, busy
            worker_pid, job_pid = busy[0]
            os.killpg(worker_pid, signal.SIGKILL)
            for pid in (job_pid, run_pid):
                # Either may be gone already: the job went with its worker's process group,
                # and the run ends itself once its job is gone.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            gate.opened.set()  # the killed run's last request reaches Zoho after all

            # One tick: the run is marked crashed, the tenant given to the other worker.
            second = asyncio.run(dispatch(deployment, tenants_dir=str(tenants_dir)))
            assert second["submitted"] == 1 and len(second["crashed"]) == 1, second
            with get_client(sync_client=True) as client:
                old = client.read_flow_run(UUID(first["run_ids"][0]))
            assert old.state is not None and old.state.type.value == "CRASHED"
            new = asyncio.run(wait_for_flow_run(UUID(second["run_ids"][0]), timeout=600))
            assert new.state is not None and new.state.type.value == "COMPLETED", new.state
        check = check_tenant(http, zoho.url, pg_url, tenant)
        assert check["duplicates"] == 0 and check["missing"] == 0, check
        keys = Counter(
            r["rs_sync_key"]
            for m in ("Leads", "Tasks")
            for r in http.get(f"{zoho.url}/__emulator__/orgs/{tenant.name}/dump").json()[m]
            if r.get("rs_sync_key")
        )
        assert keys and max(keys.values()) == 1


def _children(parent: int) -> list[int]:
    """Live child processes of ``parent`` (a worker's: the job command of the run it runs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found
