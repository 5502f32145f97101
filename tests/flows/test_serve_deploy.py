"""`callsync serve` and `prefect deploy` of deployments/prefect.yaml against one real Prefect
server: a failed served run is retried through Prefect's API (as the UI's Retry does) and
completes; the work-pool deployments keep their secrets in blocks (nothing secret is readable
from a deployment), run on a process worker, and neither set overwrites the other."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.prefect_server import LocalPrefectServer
from tests.support.processes import (
    WAIT_S,
    Command,
    prefect_api,
    session_members,
    session_prefect_settings,
)

# Under pytest-xdist one worker runs this module whole (tests/support/xdist_schedule.py): its tests
# register the same deployments (and work pool) on the run's one Prefect server.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
ZOHO_SECRET = "zs-5c1e7d0a-secret"
REFRESH_TOKEN = "1000.rt-9b7f2e44-secret"
RINGOSTAT_KEY = "rk-3d8a61f2-secret"
TOP_USER = {
    "id": "4150868000000225013",
    "email": "top@acme.test",
    "full_name": "Tamara Top",
    "first_name": "Tamara",
    "last_name": "Top",
    "status": "active",
    "role": {"name": "CEO", "id": "95013"},
    "profile": {"name": "Standard", "id": "7000000000000000001"},
    "time_zone": "Europe/Kiev",
}


def _post(url: str, body: Any) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30).close()


def _until(what: str, check: Any) -> Any:
    """Poll another process's state through the API until ``check()`` is truthy."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)  # waiting on a server's state: there is no event to wait on
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def world(tmp_path: Path, prefect_server: LocalPrefectServer) -> Iterator[dict[str, Any]]:
    with (
        BackgroundServer(create_zoho()) as zoho,
        BackgroundServer(create_ringostat(auth_key=RINGOSTAT_KEY)) as ringostat,
    ):
        _post(f"{zoho.url}/__emulator__/seed", {"users": [TOP_USER]})
        config: dict[str, Any] = {
            "zoho": {
                "accounts_url": zoho.url,
                "api_domain": zoho.url,
                "backoff_base_s": 0.0,
                "backoff_max_s": 0.0,
            },
            "ringostat": {"base_url": ringostat.url},
            "scenario": {"top_manager": "top@acme.test"},
            "store": {
                "url": f"sqlite:///{tmp_path / 'state.db'}",
                "duckdb_path": str(tmp_path / "reports.duckdb"),
                "data_docs_dir": str(tmp_path / "docs"),
            },
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALLSYNC_"))}
        env.update(
            PREFECT_API_URL=prefect_server.api_url,
            PREFECT_HOME=str(tmp_path / "client-home"),
            DO_NOT_TRACK="1",
            COLUMNS="200",
        )
        env.update(session_prefect_settings())
        yield {"zoho": zoho.url, "config": config, "dir": tmp_path, "env": env}


def _write(path: Path, config: dict[str, Any]) -> Path:
    path.write_bytes(tomli_w.dumps(config).encode())
    return path


def _deployments(api: str) -> dict[tuple[str, str], dict[str, Any]]:
    flows = {f["id"]: f["name"] for f in prefect_api(api, "POST", "/flows/filter", {})}
    return {
        (flows[d["flow_id"]], d["name"]): d
        for d in prefect_api(api, "POST", "/deployments/filter", {})
    }


def _runs(api: str, deployment_id: str) -> list[dict[str, Any]]:
    body = {"deployments": {"id": {"any_": [deployment_id]}}}
    runs: list[dict[str, Any]] = prefect_api(api, "POST", "/flow_runs/filter", body)
    return runs


def _finished(api: str, run_id: str) -> dict[str, Any] | None:
    """The flow run once it is in a final state."""
    run: dict[str, Any] = prefect_api(api, "GET", f"/flow_runs/{run_id}")
    return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None


def test_a_failed_served_run_is_retried_through_the_api_and_completes(
    world: dict[str, Any], prefect_server: LocalPrefectServer
) -> None:
    api = prefect_server.api_url
    config = world["config"]
    config["zoho"].update(client_id="cid", client_secret="cs", refresh_token="refresh")
    config["ringostat"]["auth_key"] = RINGOSTAT_KEY
    path = _write(world["dir"] / "callsync.toml", config)
    # Zoho accepts another refresh token only: every sync fails until an admin fixes it.
    _post(f"{world['zoho']}/__emulator__/seed", {"oauth": {"refresh_tokens": ["other"]}})

    serve = Command(["serve", "--config", str(path)], world["env"], world["dir"])
    try:
        serve.wait_for("callsync-serve-reports/reports")
        deployment = _deployments(api)[("callsync-serve-sync", "sync")]
        assert deployment["parameters"] == {"config": str(path)}
        # The minute schedule is live: the server has put its next syncs on the calendar.
        # (Registering a deployment deletes its runs not started yet: these are this serve's.)
        _until(
            "the schedule's next syncs",
            lambda: [
                r
                for r in _runs(api, deployment["id"])
                if r["auto_scheduled"] and r["state_type"] == "SCHEDULED"
            ],
        )
        # The first scheduled sync is due a minute after serve started. The run the UI's "Quick
        # run" creates is due now and reaches serve the same way (a scheduled run of the
        # deployment, found by serve's poll): it fails as a scheduled one would, without the wait.
        quick = prefect_api(api, "POST", f"/deployments/{deployment['id']}/create_flow_run", {})
        failed = _until("the sync to fail", lambda: _finished(api, quick["id"]))
        assert failed["state_type"] == "FAILED", failed["state"]
        # No more scheduled runs: only the retried one may run from here on.
        prefect_api(api, "POST", f"/deployments/{deployment['id']}/pause_deployment")
        _until(
            "no sync in flight",
            lambda: all(
                r["state_type"] not in ("RUNNING", "PENDING") for r in _runs(api, deployment["id"])
            ),
        )
        _post(f"{world['zoho']}/__emulator__/seed", {"oauth": {"refresh_tokens": ["refresh"]}})
        # What the UI's Retry button sends.
        prefect_api(
            api,
            "POST",
            f"/flow_runs/{failed['id']}/set_state",
            {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
        )
        done = _until("the retried run to finish", lambda: _finished(api, failed["id"]))
        assert done["state_type"] == "COMPLETED", (done["state"]["message"], serve.output[-30:])
        assert done["run_count"] >= 2
        assert "retried" in done["tags"]  # a run that needed a retry stays visible as such
    finally:
        os.kill(serve.proc.pid, signal.SIGTERM)
        assert serve.finish() == 0, "".join(serve.output)
    assert session_members(serve.proc.pid) == []


def _save_blocks_and_apply_served(blocks: dict[str, str], config: Path) -> None:
    """The Secret blocks saved and ``callsync serve``'s deployments applied as serve applies them
    at start, from this process (its Prefect client points at the run's server): the same calls a
    fresh interpreter would make, without importing the flows once more."""
    from prefect.blocks.system import Secret

    from flows.runtime.deploy import build_deployments

    for name, value in blocks.items():
        Secret(value=value).save(name, overwrite=True)
    for deployment in build_deployments(str(config)):
        deployment.apply()


def test_prefect_deploy_keeps_secrets_in_blocks_and_serve_does_not_overwrite_it(
    world: dict[str, Any], prefect_server: LocalPrefectServer, prefect_harness: None
) -> None:
    api, env = prefect_server.api_url, world["env"]
    # The worker's config holds no secret: the runs read them from the Secret blocks.
    path = _write(world["dir"] / "worker.toml", world["config"])
    _post(f"{world['zoho']}/__emulator__/seed", {"oauth": {"refresh_tokens": [REFRESH_TOKEN]}})
    blocks = {
        "callsync-zoho-client-id": "1000.cid-secret",
        "callsync-zoho-client-secret": ZOHO_SECRET,
        "callsync-zoho-refresh-token": REFRESH_TOKEN,
        "callsync-ringostat-auth-key": RINGOSTAT_KEY,
    }

    def run(*args: str, extra: dict[str, str] | None = None) -> None:
        done = subprocess.run(
            args,
            env={**env, **(extra or {})},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    # callsync serve's deployments first (applied as `callsync serve` does at start) ...
    _save_blocks_and_apply_served(blocks, path)
    run(PREFECT, "work-pool", "create", "callsync", "--type", "process")
    # ... then prefect.yaml's, deployed as deployments/README.md says ...
    deploy_env = {"CALLSYNC_HOME": str(REPO), "CALLSYNC_CONFIG": str(path)}
    one_company = ["-n", "sync", "-n", "nightly-backfill", "-n", "reports"]
    run(PREFECT, "deploy", "--prefect-file", "deployments/prefect.yaml", *one_company,
        extra=deploy_env)  # fmt: skip
    # ... and serve restarted: neither overwrote the other.
    _save_blocks_and_apply_served(blocks, path)

    deployments = _deployments(api)
    pool = {k: d for k, d in deployments.items() if d["work_pool_name"] == "callsync"}
    served = {k: d for k, d in deployments.items() if "serve" in d["tags"]}
    assert set(pool) == {
        ("callsync-sync", "sync"),
        ("callsync-backfill", "nightly-backfill"),
        ("callsync-reports", "reports"),
    }
    assert {name for _, name in served} == {name for _, name in pool}
    assert all(d["entrypoint"].startswith("flows/") for d in pool.values())
    assert not set(pool) & set(served)

    everything = json.dumps(prefect_api(api, "POST", "/deployments/filter", {}))
    for value in blocks.values():
        assert value not in everything
    sync = pool[("callsync-sync", "sync")]
    assert sync["parameters"]["secret_blocks"]["zoho.refresh_token"] == (
        "callsync-zoho-refresh-token"
    )

    # A run of the work-pool deployment on a process worker reads the blocks and completes.
    prefect_api(api, "POST", f"/deployments/{sync['id']}/pause_deployment")
    flow_run = prefect_api(api, "POST", f"/deployments/{sync['id']}/create_flow_run", {})
    run(PREFECT, "worker", "start", "--pool", "callsync", "--run-once")
    final = prefect_api(api, "GET", f"/flow_runs/{flow_run['id']}")
    assert final["state_type"] == "COMPLETED", final["state"]


def test_a_killed_serve_leaves_no_run_process_behind(
    world: dict[str, Any], prefect_server: LocalPrefectServer
) -> None:
    api = prefect_server.api_url
    config = world["config"]
    config["zoho"].update(
        client_id="cid",
        client_secret="cs",
        refresh_token="refresh",
        # Every Zoho answer is a 503 and the client waits 30 s between tries: the run's process
        # would go on for ten minutes after serve is gone if nothing ended it.
        max_retries=20,
        backoff_base_s=30.0,
        backoff_max_s=30.0,
    )
    config["ringostat"]["auth_key"] = RINGOSTAT_KEY
    path = _write(world["dir"] / "callsync.toml", config)
    req = urllib.request.Request(
        f"{world['zoho']}/__emulator__/faults",
        data=json.dumps({"rate_5xx": 1.0}).encode(),
        headers={"content-type": "application/json"},
        method="PUT",
    )
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30).close()

    serve = Command(["serve", "--config", str(path)], world["env"], world["dir"])
    serve.wait_for("callsync-serve-reports/reports")
    deployment = _deployments(api)[("callsync-serve-sync", "sync")]
    prefect_api(api, "POST", f"/deployments/{deployment['id']}/create_flow_run", {})
    serve.wait_for("Beginning flow run")
    os.kill(serve.proc.pid, signal.SIGKILL)
    assert serve.finish() == -signal.SIGKILL
    _until("the run's process to end with serve", lambda: not session_members(serve.proc.pid))
