"""One Prefect home per installation, with real processes: the one-shot commands share the
installation's server (started once, left running, found again), a SIGKILLed command leaves no
process of its own behind, and ``demo --keep-ui`` stopped with SIGTERM stops its server."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.prefect_server import pid_alive
from tests.support.processes import (
    Command,
    prefect_api,
    session_members,
    session_of,
    session_prefect_settings,
)


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A config whose state store lives in ``tmp_path/store``; both emulators on 127.0.0.1."""
    with (
        BackgroundServer(create_zoho()) as zoho,
        BackgroundServer(create_ringostat(auth_key="test-key")) as ringostat,
    ):
        store = tmp_path / "store"
        store.mkdir()
        config = tmp_path / "callsync.toml"
        config.write_bytes(
            tomli_w.dumps(
                {
                    "zoho": {
                        "accounts_url": zoho.url,
                        "api_domain": zoho.url,
                        "client_id": "cid",
                        "client_secret": "secret",
                        "refresh_token": "refresh",
                    },
                    "ringostat": {"base_url": ringostat.url, "auth_key": "test-key"},
                    "scenario": {"top_manager": "top@acme.test"},
                    "store": {
                        "url": f"sqlite:///{store / 'state.db'}",
                        "duckdb_path": str(store / "reports.duckdb"),
                        "data_docs_dir": str(store / "docs"),
                    },
                }
            ).encode()
        )
        zoho_seed = {
            "users": [
                {
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
            ]
        }
        req = urllib.request.Request(
            f"{zoho.url}/__emulator__/seed",
            data=json.dumps(zoho_seed).encode(),
            headers={"content-type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=30).close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALLSYNC_"))}
        env.update(session_prefect_settings())  # cheaper Prefect processes, no other change
        # Prefect's own default home must stay untouched: nothing may land there.
        env["PREFECT_HOME"] = str(tmp_path / "user-prefect-home")
        env["COLUMNS"] = "200"
        yield {"config": config, "home": store / "prefect", "env": env, "cwd": tmp_path}


def _record(home: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((home / "server.json").read_text())
    return data


def _flow_runs(api_url: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = prefect_api(api_url, "POST", "/flow_runs/filter", {})
    return runs


def test_commands_share_the_installation_server_and_a_killed_one_leaves_nothing(
    installation: dict[str, Any],
) -> None:
    config, home, env, cwd = (installation[k] for k in ("config", "home", "env", "cwd"))

    # 1. The first command starts the installation's server beside the state store.
    plan = Command(["plan", "--config", str(config)], env, cwd)
    assert plan.finish() == 0, "".join(plan.output)
    rec = _record(home)
    server_pid = rec["pid"]
    assert pid_alive(server_pid)
    assert session_of(server_pid) != plan.proc.pid  # not the command's child
    assert not session_members(plan.proc.pid)
    api_url = f"http://127.0.0.1:{rec['port']}/api"
    assert [r["state_type"] for r in _flow_runs(api_url)] == ["COMPLETED"]
    assert not (cwd / "user-prefect-home").exists()
    assert "Failed to send telemetry" not in (home / "server.log").read_text()

    # 2. A sync killed in the middle of its run leaves no process of its session behind; the
    # installation's server is not its child and keeps running.
    sync = Command(["sync", "--config", str(config)], env, cwd)
    sync.wait_for("Beginning flow run")
    os.kill(sync.proc.pid, signal.SIGKILL)
    assert sync.finish() == -signal.SIGKILL
    assert session_members(sync.proc.pid) == []
    assert _record(home)["pid"] == server_pid and pid_alive(server_pid)

    # 3. The next command finds the same server again (and so would every run's UI).
    again = Command(["ui", "--config", str(config)], env, cwd)
    assert again.finish() == 0, "".join(again.output)
    assert f"Prefect UI: http://127.0.0.1:{rec['port']}" in "".join(again.output)
    assert "started this installation's Prefect server" not in "".join(again.output)
    assert _record(home)["pid"] == server_pid
    states = [r["state_type"] for r in _flow_runs(api_url)]
    # The plan's run and the killed sync's, in the one UI (the killed one never finished).
    assert len(states) == 2 and states.count("COMPLETED") == 1

    # 4. `callsync ui --stop` stops it.
    stop = Command(["ui", "--stop", "--config", str(config)], env, cwd)
    assert stop.finish() == 0
    assert not pid_alive(server_pid)
    assert not (home / "server.json").exists()


@pytest.mark.slow
def test_demo_keep_ui_stopped_with_sigterm_leaves_no_process(
    installation: dict[str, Any],
) -> None:
    env, cwd = installation["env"], installation["cwd"]
    workdir = cwd / "demo"
    demo = Command(
        [
            "demo",
            "--days",
            "1",
            "--calls-per-day",
            "10",
            "--workdir",
            str(workdir),
            "--keep-ui",
        ],
        env,
        cwd,
    )
    demo.wait_for("Ctrl-C to stop")
    # What it printed adds up: the users it generated and the org's admin are what the runs
    # count, and the Data Docs caveat is said once, not after every run.
    text = "".join(demo.output)
    generated = int(text.split("Generated a company: ", 1)[1].split()[0])
    assert "(and the org's admin)" in text
    assert f"Zoho: {generated + 1} active users" in text
    assert text.count("so offline they show unstyled") == 1
    server_pid = _record(workdir / "prefect")["pid"]
    assert pid_alive(server_pid)
    os.kill(demo.proc.pid, signal.SIGTERM)
    assert demo.finish() == 0, "".join(demo.output)
    assert session_members(demo.proc.pid) == []
    assert not pid_alive(server_pid)
