"""The installation's Prefect server looks after itself: it stops when nobody needs it.

callsync starts its installation's server as ``python -m flows.runtime.server_watch [watch
options] -- server start …``: this module starts a watch thread, then runs Prefect's own
``prefect server start`` in the same process (uvicorn in the foreground). Every ``poll_s`` the
thread looks, and ends the server (SIGTERM to its own process: uvicorn shuts down cleanly) when

- the installation's folder (the Prefect home, ``prefect/`` beside the state store) is gone: a
  deleted installation leaves nothing running;
- ``server.json`` names another process: this server was replaced;
- no callsync process has used it for ``idle_stop_s`` (0: never). A command that uses the server
  (``sync``, ``plan``, ``backfill``, ``serve``, ``listen``, the demo …) registers itself with
  :func:`register_use`: one file per process in ``<home>/users/``, removed when it exits; a file
  whose process is gone (killed) counts as nothing. ``serve`` is such a process, so a server is
  never stopped under a running ``serve``.

Every ``retention_every_s`` (and once soon after the start) it deletes the flow runs that ended
more than ``keep_days`` ago through the server's own API (:mod:`flows.runtime.retention`).

Why a thread in the server's process rather than a process beside it: nothing more to start,
record or stop, and it dies with the server whatever kills it.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import runpy
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flows.runtime.watchdog import pid_alive

USERS_DIRNAME = "users"
RECORD_NAME = "server.json"
POLL_S = 5.0
RETENTION_EVERY_S = 3600.0
FIRST_RETENTION_S = 60.0
"""The first clean-up waits a minute: the server is busy starting and serving the command that
started it."""


def process_started(pid: int) -> str:
    """When ``pid`` started (clock ticks since boot, from /proc), so that a reused pid is not
    taken for the process that registered; "" where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def register_use(home: Path, pid: int | None = None) -> Path:
    """Record that this process (or ``pid``) uses the server of ``home`` until it exits."""
    pid = os.getpid() if pid is None else pid
    users = home / USERS_DIRNAME
    users.mkdir(parents=True, exist_ok=True)
    path = users / str(pid)
    path.write_text(process_started(pid))
    if pid == os.getpid():
        atexit.register(_unregister, path)
    return path


def _unregister(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def live_users(home: Path) -> list[int]:
    """The registered processes still running; files of processes that are gone are removed."""
    alive = []
    try:
        entries = list((home / USERS_DIRNAME).iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            started = entry.read_text()
        except OSError:
            continue
        if pid_alive(pid) and started == process_started(pid):
            alive.append(pid)
        else:
            _unregister(entry)
    return alive


def recorded_pid(home: Path) -> int | None:
    """The pid ``server.json`` names, None when there is no readable record."""
    import json

    try:
        return int(json.loads((home / RECORD_NAME).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class Watch:
    """The decision, apart from the thread and the clock (``now`` is monotonic seconds)."""

    home: Path
    pid: int
    idle_stop_s: float
    started_at: float
    last_used: float = field(init=False)

    def __post_init__(self) -> None:
        self.last_used = self.started_at

    def reason_to_stop(self, now: float) -> str | None:
        if not self.home.is_dir():
            return f"the installation's folder {self.home} is gone"
        recorded = recorded_pid(self.home)
        if recorded is not None and recorded != self.pid:
            return f"server.json names another server (pid {recorded})"
        if live_users(self.home):
            self.last_used = now
            return None
        if self.idle_stop_s > 0 and now - self.last_used >= self.idle_stop_s:
            return f"no callsync process used it for {self.idle_stop_s / 60:g} minutes"
        return None


@dataclass
class WatchOptions:
    home: Path
    port: int
    idle_stop_s: float
    keep_days: float
    poll_s: float = POLL_S
    retention_every_s: float = RETENTION_EVERY_S
    first_retention_s: float = FIRST_RETENTION_S

    def argv(self) -> list[str]:
        return [
            "--home",
            str(self.home),
            "--port",
            str(self.port),
            "--idle-stop-s",
            repr(self.idle_stop_s),
            "--keep-days",
            repr(self.keep_days),
            "--poll-s",
            repr(self.poll_s),
            "--retention-every-s",
            repr(self.retention_every_s),
            "--first-retention-s",
            repr(self.first_retention_s),
        ]


def _log(message: str) -> None:
    # The server's output goes to server.log: the reason it stopped is found there.
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{stamp} callsync server watch: {message}", file=sys.stderr, flush=True)


def watch_forever(
    options: WatchOptions,
    *,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
    on_stop: Callable[[str], None],
    prune: Callable[[], int] | None = None,
) -> None:
    """The thread's body: look every ``poll_s`` until a reason to stop (or ``stop`` is set)."""
    started = clock()
    watch = Watch(options.home, os.getpid(), options.idle_stop_s, started)
    next_prune = started + options.first_retention_s
    while not stop.wait(options.poll_s):
        now = clock()
        reason = watch.reason_to_stop(now)
        if reason is not None:
            on_stop(reason)
            return
        if prune is not None and now >= next_prune:
            next_prune = now + options.retention_every_s
            try:
                deleted = prune()
            except Exception as exc:  # a failed clean-up is tried again next time
                _log(f"deleting old flow runs failed ({type(exc).__name__}: {exc})")
            else:
                if deleted:
                    _log(f"deleted {deleted} flow runs older than {options.keep_days:g} days")


def _stop_server(home: Path, reason: str) -> None:
    _log(f"stopping: {reason}")
    if recorded_pid(home) == os.getpid():
        with contextlib.suppress(OSError):
            (home / RECORD_NAME).unlink()
    os.kill(os.getpid(), signal.SIGTERM)


def _parse(argv: Sequence[str]) -> tuple[WatchOptions, list[str]]:
    args = list(argv)
    split = args.index("--") if "--" in args else len(args)
    parser = argparse.ArgumentParser(prog="server_watch")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle-stop-s", type=float, default=3600.0)
    parser.add_argument("--keep-days", type=float, default=30.0)
    parser.add_argument("--poll-s", type=float, default=POLL_S)
    parser.add_argument("--retention-every-s", type=float, default=RETENTION_EVERY_S)
    parser.add_argument("--first-retention-s", type=float, default=FIRST_RETENTION_S)
    ns = parser.parse_args(args[:split])
    options = WatchOptions(
        home=ns.home.absolute(),
        port=ns.port,
        idle_stop_s=ns.idle_stop_s,
        keep_days=ns.keep_days,
        poll_s=ns.poll_s,
        retention_every_s=ns.retention_every_s,
        first_retention_s=ns.first_retention_s,
    )
    return options, args[split + 1 :]


def main(argv: Sequence[str] | None = None) -> None:
    options, prefect_args = _parse(sys.argv[1:] if argv is None else argv)
    prune = None
    if options.keep_days > 0:
        from flows.runtime.retention import prune_flow_runs

        api_url = f"http://127.0.0.1:{options.port}/api"

        def prune() -> int:
            return prune_flow_runs(api_url, options.keep_days, now=datetime.now(UTC))

    thread = threading.Thread(
        target=watch_forever,
        kwargs={
            "options": options,
            "stop": threading.Event(),
            "on_stop": lambda reason: _stop_server(options.home, reason),
            "prune": prune,
        },
        name="callsync-server-watch",
        daemon=True,
    )
    thread.start()
    sys.argv = ["prefect", *prefect_args]
    runpy.run_module("prefect", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
