"""The installation server's watch, decided apart from the thread and the clock: who uses the
server (real processes' registrations), when it stops, when it cleans up; and what the server is
started with (its own UI API address, the watch's options)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.runtime import watchdog
from flows.runtime.prefect_server import (
    RECIPE,
    ServerPolicy,
    ServerRecord,
    _current,
    _prefect_version,
    server_env,
)
from flows.runtime.server_watch import (
    Watch,
    WatchOptions,
    _parse,
    live_users,
    register_use,
    watch_forever,
)
from models.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A real process that runs until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield proc
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def _end(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=60)


def test_a_server_in_use_stays_and_stops_after_the_idle_time(
    tmp_path: Path, other_process: subprocess.Popen[bytes]
) -> None:
    home = tmp_path / "prefect"
    home.mkdir()
    clock = Clock()
    watch = Watch(home, pid=4242, idle_stop_s=600, started_at=clock())
    register_use(home, other_process.pid)
    clock.now += 3600
    assert watch.reason_to_stop(clock()) is None  # used all along: never idle
    _end(other_process)
    clock.now += 599
    assert watch.reason_to_stop(clock()) is None  # the user is gone, but only since 599 s
    assert live_users(home) == []
    assert not (home / "users" / str(other_process.pid)).exists()  # its file was cleared
    clock.now += 1
    assert watch.reason_to_stop(clock()) == "no callsync process used it for 10 minutes"


def test_idle_stop_zero_keeps_the_server_up(tmp_path: Path) -> None:
    watch = Watch(tmp_path, pid=4242, idle_stop_s=0, started_at=0.0)
    assert watch.reason_to_stop(10**9) is None


def test_a_server_whose_folder_is_gone_or_replaced_stops(tmp_path: Path) -> None:
    home = tmp_path / "inst" / "prefect"
    home.mkdir(parents=True)
    watch = Watch(home, pid=4242, idle_stop_s=0, started_at=0.0)
    (home / "server.json").write_text('{"pid": 4242, "port": 1, "version": "x", "started_at": ""}')
    assert watch.reason_to_stop(1.0) is None
    (home / "server.json").write_text('{"pid": 99, "port": 1, "version": "x", "started_at": ""}')
    assert watch.reason_to_stop(2.0) == "server.json names another server (pid 99)"
    shutil.rmtree(tmp_path / "inst")
    assert watch.reason_to_stop(3.0) == f"the installation's folder {home} is gone"


def test_a_registration_names_its_process_and_not_a_reused_pid(tmp_path: Path) -> None:
    path = register_use(tmp_path)
    assert live_users(tmp_path) == [int(path.name)]
    path.write_text("1")  # another start time: the pid was reused by some other process
    assert live_users(tmp_path) == []
    assert not path.exists()


def test_the_watch_cleans_up_soon_after_the_start_then_hourly(tmp_path: Path) -> None:
    clock = Clock()
    stop = threading.Event()
    pruned: list[float] = []
    stopped: list[str] = []
    options = WatchOptions(
        home=tmp_path, port=1, idle_stop_s=0, keep_days=30, poll_s=0, first_retention_s=60
    )

    def prune() -> int:
        pruned.append(clock.now)
        if len(pruned) == 3:
            raise OSError("the server did not answer")  # logged, tried again next time
        if len(pruned) == 4:
            shutil.rmtree(tmp_path)  # the installation goes: the next look stops the server
        return 2

    class Steps:
        """Each look of the watch moves the clock 30 s (stop.wait(0) returns at once)."""

        def __call__(self) -> float:
            clock.now += 30
            return clock.now

    watch_forever(options, stop=stop, clock=Steps(), on_stop=stopped.append, prune=prune)
    assert pruned == [1090.0, 4690.0, 8290.0, 11890.0]  # a minute after the start, then hourly
    assert stopped == [f"the installation's folder {tmp_path} is gone"]


def test_the_server_is_started_with_its_own_ui_api_address_and_no_serve_parent(
    tmp_path: Path,
) -> None:
    base = {"PATH": "/bin", "PREFECT_UI_API_URL": "http://127.0.0.1:4200/api", watchdog.ENV: "7"}
    env = server_env(tmp_path, base, port=42123)
    assert env["PREFECT_SERVER_UI_API_URL"] == "http://127.0.0.1:42123/api"
    assert env["PREFECT_UI_URL"] == "http://127.0.0.1:42123"
    assert "PREFECT_UI_API_URL" not in env
    assert watchdog.ENV not in env  # the server outlives a serve that started it
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] == "events,orphans"


def test_the_watch_options_reach_the_server_process_intact(tmp_path: Path) -> None:
    options = WatchOptions(home=tmp_path, port=42123, idle_stop_s=90.5, keep_days=7, poll_s=0.25)
    parsed, rest = _parse([*options.argv(), "--", "server", "start", "--port", "42123"])
    assert parsed == options
    assert rest == ["server", "start", "--port", "42123"]


def test_the_prefect_section_sets_the_policy(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[prefect]\nidle_stop_minutes = 15\nkeep_days = 7\n")
    assert ServerPolicy.of(load_settings(config).prefect) == ServerPolicy(
        idle_stop_s=900, keep_days=7
    )
    assert ServerPolicy.of(load_settings(None).prefect) == ServerPolicy(
        idle_stop_s=3600, keep_days=30
    )


def test_a_server_an_older_callsync_started_is_replaced() -> None:
    old = ServerRecord(pid=1, port=2, version=_prefect_version(), started_at="")
    assert old.recipe == 1 and not _current(old)
    assert _current(ServerRecord(1, 2, _prefect_version(), "", recipe=RECIPE))
