"""The installation's Prefect server as an operator meets it, with real processes over real HTTP:
its UI talks to its own API and shows this installation's runs (rendered by a real browser where
``/usr/bin/chromium`` is installed), it stops when its installation's folder is deleted and when
no callsync process uses it, and flow runs older than the retention are deleted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.runtime.prefect_server import (
    InstallationServer,
    LocalPrefectServer,
    ServerPolicy,
    healthy,
)
from flows.runtime.retention import prune_flow_runs
from flows.runtime.server_watch import register_use
from tests.support.processes import gone_within, prefect_api

CHROMIUM = Path("/usr/bin/chromium")
STOP_WITHIN_S = 120  # generous: the machine may be busy; the watch looks every 0.2 s here


def _get_json(url: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as answer:
        return json.loads(answer.read())


def _flow_run(api_url: str, flow: str, name: str, state: str = "COMPLETED") -> dict[str, Any]:
    flow_id = prefect_api(api_url, "POST", "/flows/", {"name": flow})["id"]
    run: dict[str, Any] = prefect_api(
        api_url, "POST", "/flow_runs/", {"flow_id": flow_id, "name": name, "state": {"type": state}}
    )
    return run


def test_the_ui_is_told_the_servers_own_api_address(prefect_server: LocalPrefectServer) -> None:
    settings = _get_json(f"{prefect_server.url}/ui-settings")
    assert settings["api_url"] == prefect_server.api_url  # not http://127.0.0.1:4200/api


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium) to render the UI"
)
def test_the_rendered_runs_page_shows_this_installations_runs(
    prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    name = f"sync 17:45 · 3 new calls · {uuid.uuid4().hex[:8]}"
    _flow_run(prefect_server.api_url, "callsync-sync", name)
    browser = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
        # Virtual time: the page's requests to the API are answered before the DOM is taken.
        "--virtual-time-budget=30000",
    ]
    # The address callsync prints redirects to Prefect's default UI, whose runs page is this.
    page = f"{prefect_server.url}/v2/runs"
    dom = subprocess.run(
        [*browser, "--dump-dom", page], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert name in dom
    assert "connect to Server API" not in dom
    shot = tmp_path / "runs.png"
    subprocess.run(
        [*browser, "--window-size=1400,900", f"--screenshot={shot}", page],
        capture_output=True,
        timeout=300,
        check=True,
    )
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_a_server_whose_installation_folder_is_deleted_stops(tmp_path: Path) -> None:
    installation = tmp_path / "installation"
    server = InstallationServer(
        installation / "prefect", policy=ServerPolicy(idle_stop_s=0, poll_s=0.2)
    )
    rec, started = server.ensure()
    assert started and healthy(rec.api_url)
    shutil.rmtree(installation)
    assert gone_within(rec.pid, STOP_WITHIN_S)


@pytest.fixture
def other_user() -> Iterator[subprocess.Popen[bytes]]:
    """A real process standing for a callsync command that uses the server (until stdin ends)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield proc
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def test_old_runs_are_deleted_and_a_server_nobody_uses_stops(
    tmp_path: Path, other_user: subprocess.Popen[bytes]
) -> None:
    home = tmp_path / "prefect"
    idle_s = 2.0
    server = InstallationServer(home, policy=ServerPolicy(idle_stop_s=idle_s, poll_s=0.2))
    rec, _ = server.ensure()  # this test's process now counts as one using it

    # Retention: three runs made through the API; "now" is injected 30 days after a moment
    # between the first two ends, so exactly the first ended more than 30 days "ago". A run
    # that has not finished is kept whatever its age.
    old = _flow_run(rec.api_url, "callsync-sync", "old")
    new = _flow_run(rec.api_url, "callsync-sync", "new")
    _flow_run(rec.api_url, "callsync-sync", "running", state="RUNNING")
    ended = [datetime.fromisoformat(r["end_time"]) for r in (old, new)]
    assert ended[0] < ended[1]
    between = ended[0] + (ended[1] - ended[0]) / 2
    assert prune_flow_runs(rec.api_url, 30, now=between + timedelta(days=30)) == 1
    runs = prefect_api(rec.api_url, "POST", "/flow_runs/filter", {})
    assert sorted(r["name"] for r in runs) == ["new", "running"]

    # Idle stop: while another callsync process uses it, it stays (three idle times pass)...
    register_use(home, other_user.pid)
    (home / "users" / str(os.getpid())).unlink()  # as if this test's command had exited
    assert not gone_within(rec.pid, 3 * idle_s)
    assert healthy(rec.api_url)
    # ... and once that process has exited, it stops by itself.
    assert other_user.stdin is not None
    other_user.stdin.close()
    other_user.wait(timeout=60)
    assert gone_within(rec.pid, STOP_WITHIN_S)
    assert "stopping: no callsync process used it" in (home / "server.log").read_text()
    assert not (home / "server.json").exists()
