"""A local Prefect server in a child process, for the demo and for ``callsync serve``.

Prefect's ephemeral mode runs the API inside the flow's own process and stops it at exit while
its services still flush events into SQLite, which shows up as "database is locked" errors and
CancelledError tracebacks. A real server process (``prefect server start``) owns its database
for its whole life, keeps the runs for the UI, and writes its own log file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx


class PrefectServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(home: Path) -> dict[str, str]:
    """Environment for a Prefect process bound to the server and database under ``home``."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(home.resolve()),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "INFO"),
        }
    )
    return env


class LocalPrefectServer:
    """``prefect server start`` on 127.0.0.1, its database and log under ``home``."""

    def __init__(
        self, home: Path, *, port: int | None = None, startup_timeout_s: float = 120
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.log_path = home / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def start(self) -> LocalPrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(self.home),
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PrefectServerError(
                    f"the Prefect server exited at start (code {self._proc.returncode}); "
                    f"see {self.log_path}"
                )
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.25)  # polling a child process at start-up: no event to wait on
        self.stop()
        raise PrefectServerError(
            f"the Prefect server did not answer within {self.startup_timeout_s:.0f}s; "
            f"see {self.log_path}"
        )

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> LocalPrefectServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
