"""Real callsync processes for tests: each in its own session, output read line by line, and
a look at what is left of a session after it ended; plus plain REST calls to a Prefect API."""

from __future__ import annotations

import json
import os
import queue
import resource
import select
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CALLSYNC = str(Path(sys.executable).with_name("callsync"))
WAIT_S = 300  # generous: the machine may be busy; nothing here measures time

# How often Prefect looks, shortened for tests (not what it does once it looks): a served or
# worker-pool run is picked up within a second of being due instead of ten (the runner's and the
# worker's default polls), and the server schedules a newly registered deployment's runs within a
# second instead of five.
PREFECT_POLLS = {
    "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    "PREFECT_WORKER_QUERY_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
}
CA_FILE_SETTING = "PREFECT_API_SSL_CERT_FILE"


def prefect_test_settings(home: Path) -> dict[str, str]:
    """Prefect settings that make the test session's Prefect processes cheaper, not different.

    Besides :data:`PREFECT_POLLS`: every Prefect API client builds a TLS context from certifi's
    bundle of some 150 certificates (20-35 ms) and Prefect makes a client per task run, a sixth of
    the flow tests' CPU. The tests' Prefect servers are plain HTTP on 127.0.0.1, where no
    certificate is ever checked: the clients get a bundle of one (certifi's first, written into
    ``home``). tests/conftest.py puts these into the session's environment.
    """
    import certifi

    bundle = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----\n"
    one = home / "one-certificate.pem"
    one.write_text(
        bundle[bundle.index("-----BEGIN CERTIFICATE-----") : bundle.index(end) + len(end)]
    )
    return {**PREFECT_POLLS, CA_FILE_SETTING: str(one)}


def session_prefect_settings() -> dict[str, str]:
    """:func:`prefect_test_settings` as the session set them, for a test that starts a Prefect
    process with an environment of its own."""
    names = (*PREFECT_POLLS, CA_FILE_SETTING)
    return {name: os.environ[name] for name in names if name in os.environ}


def session_members(sid: int) -> list[int]:
    """Processes whose session is ``sid`` (the command was started as a session leader)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def session_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


class Command:
    """A callsync command in its own session, its output read line by line."""

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, *, nofile: int | None = None
    ) -> None:
        """``nofile``: the process's open-file limit (soft and hard), as an operator's
        ``ulimit -n`` would set it."""

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [CALLSYNC, *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=limit if nofile is not None else None,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> str:
        while True:
            line = self.lines.get(timeout=WAIT_S)
            if line is None:
                # Reaped here: a process left unreaped fails a later test with a ResourceWarning.
                code = self.finish()
                raise AssertionError(f"exited ({code}) before {text!r}:\n{''.join(self.output)}")
            self.output.append(line)
            if text in line:
                return line

    def finish(self) -> int:
        code = self.proc.wait(timeout=WAIT_S)
        self._reader.join(timeout=WAIT_S)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.output.append(line)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def gone_within(pid: int, timeout_s: float) -> bool:
    """Whether process ``pid`` (any process, not only a child) ends within ``timeout_s``:
    waited for on a pidfd, which becomes readable when it ends (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout_s)
        return bool(ready)
    finally:
        os.close(fd)


def prefect_api(api_url: str, method: str, path: str, body: Any = None) -> Any:
    """One call to a Prefect server's REST API on 127.0.0.1 (no proxy).

    A 503 is the server's "database busy, ask again" (its SQLite database is locked while other
    runs write to it; nothing was changed): the call is made again, as Prefect's own client does.
    """
    data = None if body is None else json.dumps(body).encode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + WAIT_S
    while True:
        req = urllib.request.Request(
            f"{api_url}{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        try:
            with opener.open(req, timeout=30) as answer:
                raw = answer.read()
            return json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            if err.code != 503 or time.monotonic() > deadline:
                raise
            err.close()
        time.sleep(0.2)  # the server asked to be asked again: there is no event to wait on
