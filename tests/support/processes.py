"""Real callsync processes for tests: each in its own session, output read line by line, and
a look at what is left of a session after it ended; plus plain REST calls to a Prefect API."""

from __future__ import annotations

import json
import queue
import resource
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

CALLSYNC = str(Path(sys.executable).with_name("callsync"))
WAIT_S = 300  # generous: the machine may be busy; nothing here measures time


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
                raise AssertionError(f"exited before {text!r}:\n{''.join(self.output)}")
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


def prefect_api(api_url: str, method: str, path: str, body: Any = None) -> Any:
    """One call to a Prefect server's REST API on 127.0.0.1 (no proxy)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{api_url}{path}", data=data, method=method, headers={"content-type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None
