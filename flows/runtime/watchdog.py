"""A run's process ends with the ``callsync serve`` that started it.

``callsync serve`` runs each flow run in a child process (Prefect's runner). When ``serve`` is
stopped normally, the runner cancels them; when it is killed (SIGKILL, OOM), a child that writes
dies on its broken output pipe, but a quiet one (waiting out a retry delay) would go on as an
orphan. ``serve`` sets :data:`ENV` to its pid for its children; a process that imports ``flows``
with it set watches its parent and, once the parent is gone (or if ``serve`` was gone before the
process got that far), sends itself SIGTERM — Prefect's engine then ends the run, and the next
run (or a retry from the UI) finishes the work.
"""

from __future__ import annotations

import os
import signal
import threading

# Not CALLSYNC_…: that prefix is for settings, and an unknown one is a configuration error.
ENV = "_CALLSYNC_SERVE_PID"
POLL_S = 1.0

_started = False


def watch_parent(parent: int | None = None, poll_s: float = POLL_S) -> None:
    """Start (once per process) a daemon thread that ends this process when ``parent`` is gone."""
    global _started
    if _started:
        return
    _started = True
    parent = os.getppid() if parent is None else parent
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll_s):
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="callsync-parent-watch", daemon=True).start()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): signal 0 is all we have
    return state not in ("Z", "X")


def watch_parent_if_asked() -> None:
    value = os.environ.get(ENV, "")
    if not value.isdigit():
        return
    if not pid_alive(int(value)):
        os.kill(os.getpid(), signal.SIGTERM)  # serve is already gone
        return
    watch_parent()
