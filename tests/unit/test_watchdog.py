"""A process started by ``callsync serve`` (_CALLSYNC_SERVE_PID=<serve's pid>) ends when
serve is killed, even when it is quiet (one that writes would die anyway on its broken pipe),
and even when serve died before the process imported ``flows``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from flows.runtime.prefect_server import pid_alive
from flows.runtime.watchdog import ENV

# The parent, like serve, names itself in the environment, starts a quiet child that imports
# flows, prints the child's pid, and waits.
PARENT = """
import os, subprocess, sys
os.environ[sys.argv[1]] = str(os.getpid())
child = subprocess.Popen(
    [sys.executable, "-c", "import flows, time; time.sleep(600)"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
print(child.pid, flush=True)
child.wait()
"""


def test_a_quiet_child_of_serve_ends_when_serve_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, ENV], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.stdout.close()
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)  # waiting for another process to notice: no event to wait on
    alive = pid_alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive
