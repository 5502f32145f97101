"""callsync's Prefect home: one Prefect server per installation, found again by every command.

Where every run goes (``sync``, ``plan``, ``backfill``, ``report --refresh``, ``serve``, the demo):

- ``PREFECT_API_URL`` (the environment, or the active Prefect profile) → that server; callsync
  starts nothing and leaves the Prefect configuration alone.
- otherwise the installation's own server: ``prefect server start`` on 127.0.0.1 with its
  database, log and record (``server.json``) in ``<state-store directory>/prefect`` — beside the
  state store the configuration names, never the current directory by accident. The first command
  that needs it starts it and **leaves it running**: it runs in its own session (a killed command
  does not take it down, and it is not an orphan), and the next command finds it through
  ``server.json`` and reuses it. ``callsync ui`` prints its address, ``callsync ui --stop`` stops it.

The server tells the browser its own API address (``PREFECT_SERVER_UI_API_URL``; Prefect's
default is ``http://127.0.0.1:4200/api`` whatever the port, so the UI showed "Can't connect to
Server API", or another server's runs). It looks after itself (:mod:`flows.runtime.server_watch`):
it stops when the installation's folder is gone or after ``[prefect] idle_stop_minutes`` with no
callsync process using it, and deletes the flow runs that ended more than ``[prefect] keep_days``
ago (:mod:`flows.runtime.retention`). A server started by an older callsync (without these) is
replaced at the next command.

Why a server left running rather than Prefect's ephemeral mode or a server inside the command
(measured on the 2-core development machine, shared; "load" is the 1-minute load average):
Prefect's ephemeral mode starts a server subprocess per command — 7.6-7.9 s before any work at
load 4, 22-60 s at load 11-16, and "Timed out while attempting to connect to ephemeral Prefect
API server" past its 20 s limit; its runs were kept in ``~/.prefect``, where no UI showed them. A
server inside the command pays Prefect's server imports and app start on every command (5-20 s
at load 8-12) and would have several processes writing one SQLite database. With the server
running, a one-shot command finds it in 0.005-0.03 s and Prefect's engine reaches the flow body
0.2-1.7 s later (load 4); only the first command of an installation waits for the start (9 s at
load 4, 44 s at load 16).

Telemetry is off for the servers callsync starts (``PREFECT_SERVER_ANALYTICS_ENABLED=false``,
``DO_NOT_TRACK=1``): offline machines get no "Failed to send telemetry" errors.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from types import TracebackType
from typing import Any

from flows.runtime import watchdog
from flows.runtime.server_watch import WatchOptions, register_use
from flows.runtime.watchdog import pid_alive
from models.settings import PrefectSettings, Settings

RECORD_NAME = "server.json"
LOCK_NAME = "server.lock"
LOG_NAME = "server.log"
HOME_DIRNAME = "prefect"
HEALTH_TIMEOUT_S = 2.0
RECIPE = 2
"""How callsync starts its server; a running server with another recipe (an older callsync's:
no watch, the UI pointing at port 4200) is replaced. 2: own UI API address, watch, retention."""


class PrefectServerError(RuntimeError):
    """The Prefect server callsync should use cannot be reached or started (one line)."""


def prefect_home(settings: Settings) -> Path:
    """The installation's Prefect home: ``prefect/`` beside the state store.

    The SQLite state database's directory when the store is SQLite, else the DuckDB file's
    directory. Store paths come already resolved from the settings.
    """
    url = settings.store.url
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        base = Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent
    else:
        base = Path(settings.store.duckdb_path).parent
    return (base / HOME_DIRNAME).absolute()


def configured_api_url(env: Mapping[str, str]) -> str | None:
    """``PREFECT_API_URL`` from the environment, else from the active Prefect profile."""
    if env.get("PREFECT_API_URL"):
        return env["PREFECT_API_URL"]
    home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        with path.open("rb") as fh:
            profiles = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = env.get("PREFECT_PROFILE") or profiles.get("active")
    value = profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(value) if value else None


def server_env(
    home: Path, base: Mapping[str, str] | None = None, *, port: int | None = None
) -> dict[str, str]:
    """Environment of a Prefect process bound to the server and database under ``home``; with
    ``port``, that of the server itself (listening on 127.0.0.1:``port``)."""
    env = dict(os.environ if base is None else base)
    for name in (
        "PREFECT_API_URL",
        "PREFECT_UI_URL",
        "PREFECT_PROFILE",
        "PREFECT_UI_API_URL",
        "PREFECT_SERVER_UI_API_URL",
        watchdog.ENV,  # the server is the installation's, not a serve run's: it outlives serve
    ):
        env.pop(name, None)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "INFO"),
        }
    )
    if port is not None:
        # What /ui-settings tells the browser: Prefect derives it from PREFECT_SERVER_API_PORT
        # (4200), not from --port.
        env["PREFECT_SERVER_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
        # The links in the failure alert's notifications (flows/runtime/alerts.py).
        env["PREFECT_UI_URL"] = f"http://127.0.0.1:{port}"
        # Events age out (Prefect's default), and logs and artifacts of the flow runs deleted by
        # the retention go with them.
        env.setdefault("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "events,orphans")
    return env


def _open(url: str, timeout_s: float) -> Any:
    """GET ``url``; a server on 127.0.0.1 is asked directly, never through an HTTP proxy."""
    local = urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
    handlers = [urllib.request.ProxyHandler({})] if local else []
    return urllib.request.build_opener(*handlers).open(url, timeout=timeout_s)


def healthy(api_url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    try:
        with _open(f"{api_url}/health", timeout_s) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def preferred_port(home: Path) -> int:
    """A stable port per home (the UI keeps its address across restarts), or any free one."""
    digest = hashlib.sha256(str(home).encode()).digest()
    port = 42000 + int.from_bytes(digest[:2], "big") % 2000
    return port if _port_free(port) else free_port()


@dataclass(frozen=True)
class ServerRecord:
    """What ``server.json`` says about the installation's server."""

    pid: int
    port: int
    version: str
    started_at: str
    recipe: int = 1
    """:data:`RECIPE` of the callsync that started it (records without it are older: 1)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


@dataclass(frozen=True)
class ServerPolicy:
    """When the installation's server stops by itself and how long it keeps flow runs."""

    idle_stop_s: float = 3600.0
    keep_days: float = 30.0
    poll_s: float = 5.0
    first_retention_s: float = 60.0

    @classmethod
    def of(cls, settings: PrefectSettings) -> ServerPolicy:
        return cls(idle_stop_s=settings.idle_stop_minutes * 60, keep_days=settings.keep_days)


# Started by a short-lived launcher so that the server is nobody's child: the command that
# started it can exit or be killed without leaving a zombie or taking the server down.
_LAUNCHER = """
import subprocess, sys
log = open(sys.argv[1], "ab")
proc = subprocess.Popen(sys.argv[3:], cwd=sys.argv[2], stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, start_new_session=True)
print(proc.pid)
"""


class InstallationServer:
    """The Prefect server whose database, log and record live in ``home``."""

    def __init__(
        self,
        home: Path,
        *,
        startup_timeout_s: float = 120,
        policy: ServerPolicy | None = None,
    ) -> None:
        self.home = home.absolute()
        self.startup_timeout_s = startup_timeout_s
        self.policy = policy or ServerPolicy()

    @property
    def record_path(self) -> Path:
        return self.home / RECORD_NAME

    @property
    def log_path(self) -> Path:
        return self.home / LOG_NAME

    def record(self) -> ServerRecord | None:
        try:
            data = json.loads(self.record_path.read_text())
            return ServerRecord(**data)
        except (OSError, ValueError, TypeError):
            return None

    def running(self) -> ServerRecord | None:
        """The recorded server if its process is alive and its API answers."""
        rec = self.record()
        if rec is None or not pid_alive(rec.pid) or not healthy(rec.api_url):
            return None
        return rec

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / LOCK_NAME).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def ensure(self) -> tuple[ServerRecord, bool]:
        """The running server, started first if needed; ``True`` when this call started it.

        The calling process counts as one that uses the server until it exits: the server does
        not stop for being idle meanwhile (:mod:`flows.runtime.server_watch`)."""
        register_use(self.home)
        rec = self.running()
        if rec is not None and _current(rec):
            return rec, False
        with self._locked():
            rec = self.record()
            if rec is not None and pid_alive(rec.pid):
                # Recorded and alive: either up, or still starting (another command started it).
                if self._wait_healthy(rec) and _current(rec):
                    return rec, False
                # Another Prefect version or an older callsync's server, or it never came up.
                self._terminate(rec)
            return self._start(), True

    def _start(self) -> ServerRecord:
        port = preferred_port(self.home)
        watch = WatchOptions(
            home=self.home,
            port=port,
            idle_stop_s=self.policy.idle_stop_s,
            keep_days=self.policy.keep_days,
            poll_s=self.policy.poll_s,
            first_retention_s=self.policy.first_retention_s,
        )
        command = [
            sys.executable,
            "-m",
            "flows.runtime.server_watch",
            *watch.argv(),
            "--",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(self.log_path), str(self.home), *command],
            env=server_env(self.home, port=port),
            capture_output=True,
            text=True,
            check=True,
        )
        rec = ServerRecord(
            pid=int(launched.stdout.strip()),
            port=port,
            version=_prefect_version(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            recipe=RECIPE,
        )
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec)))
        tmp.replace(self.record_path)
        if not self._wait_healthy(rec):
            alive = pid_alive(rec.pid)
            self._terminate(rec)
            raise PrefectServerError(
                (
                    f"the local Prefect server did not answer within {self.startup_timeout_s:.0f}s"
                    if alive
                    else "the local Prefect server exited at start"
                )
                + f"; see {self.log_path}"
            )
        return rec

    def _wait_healthy(self, rec: ServerRecord) -> bool:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if healthy(rec.api_url):
                return True
            if not pid_alive(rec.pid):
                return False
            time.sleep(0.2)  # polling another process's start-up: no event to wait on
        return False

    def stop(self) -> bool:
        """Stop the recorded server; ``True`` if one was running."""
        with self._locked():
            rec = self.record()
            was_running = rec is not None and pid_alive(rec.pid)
            if rec is not None:
                self._terminate(rec)
            return was_running

    def _terminate(self, rec: ServerRecord) -> None:
        if pid_alive(rec.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(rec.pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while pid_alive(rec.pid) and time.monotonic() < deadline:
                time.sleep(0.1)  # waiting for a process that is not our child
            if pid_alive(rec.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(rec.pid, signal.SIGKILL)
        self.record_path.unlink(missing_ok=True)


def _prefect_version() -> str:
    return package_version("prefect")


def _current(rec: ServerRecord) -> bool:
    """Whether a recorded server is what this callsync would start (else it is replaced)."""
    return rec.version == _prefect_version() and rec.recipe == RECIPE


@dataclass(frozen=True)
class PrefectTarget:
    """The Prefect server this command's runs go to."""

    api_url: str
    home: Path | None
    """The installation's home when callsync runs the server; None for ``PREFECT_API_URL``."""
    started: bool = False

    @property
    def ui_url(self) -> str:
        return self.api_url.rstrip("/").removesuffix("/api")


def resolve_prefect(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    start: bool = True,
    startup_timeout_s: float = 120,
) -> PrefectTarget | None:
    """Where this installation's runs go; starts the local server when ``start`` and needed.

    ``PREFECT_API_URL`` must answer within a few seconds. Returns None when ``start`` is False and
    the local server is not running.
    """
    return resolve_prefect_home(
        prefect_home(settings),
        env=env,
        start=start,
        startup_timeout_s=startup_timeout_s,
        policy=ServerPolicy.of(settings.prefect),
    )


def resolve_prefect_home(
    home: Path,
    *,
    env: Mapping[str, str] | None = None,
    start: bool = True,
    startup_timeout_s: float = 120,
    policy: ServerPolicy | None = None,
) -> PrefectTarget | None:
    """:func:`resolve_prefect` for an explicit Prefect home (the demo's)."""
    env = os.environ if env is None else env
    api_url = configured_api_url(env)
    if api_url:
        api_url = api_url.rstrip("/")
        if not healthy(api_url, timeout_s=5):
            raise PrefectServerError(
                f"the Prefect server at PREFECT_API_URL={api_url} does not answer "
                "(start it, or unset PREFECT_API_URL to use callsync's own server)"
            )
        return PrefectTarget(api_url, None)
    server = InstallationServer(home, startup_timeout_s=startup_timeout_s, policy=policy)
    if not start:
        rec = server.running()
        return None if rec is None else PrefectTarget(rec.api_url, server.home)
    rec, started = server.ensure()
    return PrefectTarget(rec.api_url, server.home, started)


def point_prefect_at(target: PrefectTarget, env: MutableMapping[str, str] | None = None) -> None:
    """Make this process's Prefect client use ``target`` and never start a temporary server.

    Best before Prefect is imported; if it already is, its global settings are rebuilt.
    """
    env = os.environ if env is None else env
    env["PREFECT_API_URL"] = target.api_url
    env["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
    env.setdefault("DO_NOT_TRACK", "1")
    if target.home is not None:
        # Results, profiles and Prefect's own files stay in the installation, not ~/.prefect.
        env["PREFECT_HOME"] = str(target.home)
        env.pop("PREFECT_PROFILE", None)
    if env is os.environ and "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def use_prefect(settings: Settings, *, startup_timeout_s: float = 120) -> PrefectTarget:
    """Resolve (starting the local server if needed) and point this process at it."""
    target = resolve_prefect(settings, startup_timeout_s=startup_timeout_s)
    assert target is not None
    point_prefect_at(target)
    return target


def drain_prefect_clients(timeout_s: float = 30) -> None:
    """Deliver queued run logs and events while the server still listens."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout_s)
    EventsWorker.drain_all(timeout=timeout_s)


class LocalPrefectServer:
    """A Prefect server owned by its caller (tests, the benchmark): ``start()``/``stop()`` or a
    ``with`` block."""

    def __init__(
        self, home: Path, *, startup_timeout_s: float = 180, policy: ServerPolicy | None = None
    ) -> None:
        self.server = InstallationServer(home, startup_timeout_s=startup_timeout_s, policy=policy)
        self.record: ServerRecord | None = None

    @property
    def home(self) -> Path:
        return self.server.home

    @property
    def api_url(self) -> str:
        assert self.record is not None
        return self.record.api_url

    @property
    def url(self) -> str:
        assert self.record is not None
        return self.record.url

    def start(self) -> LocalPrefectServer:
        self.record, _ = self.server.ensure()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> LocalPrefectServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
