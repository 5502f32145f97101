"""A warm start for flow runs on a process worker: ``python -m flows.runtime.warm_engine``.

A process worker starts every flow run as ``python -m prefect.engine`` — a fresh interpreter that
imports Prefect, callsync and Great Expectations before the run's first step: about 5 CPU-seconds
and 8-15 s on a busy 2-core machine, for a run whose own work on a minute of calls is one
second. With a run per company per minute that start is the whole cost of the pool (measured:
``benchmarks/``; README "Many companies").

This module is the tenant deployments' job command instead. As a **client** (what the worker
starts) it hands its run to a **server** on the same machine, started by the first client and
kept by the user: a process that imported everything once and forks a child per run. The child
gets the client's environment, working directory and standard streams (passed over a Unix
socket), and runs ``prefect.engine`` as the cold command would; the client relays signals to it
and exits with its status, so the worker sees an ordinary process. A child whose client is gone
(its worker killed, even with SIGKILL) ends its run at once (SIGTERM, as Prefect's own
cancellation does) — the tenant's lease goes with the process, and the dispatcher gives the
tenant to another worker.

The server is single-threaded (forking a process with threads is unsafe), keyed by the code it
loaded (the interpreter and the newest source file: after an upgrade a new server starts and the
old one idles out), and leaves after :data:`IDLE_S` without runs. Whatever goes wrong on the warm
path — no server can be started, a broken socket — the client runs the cold command itself.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import gc
import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODULE = "flows.runtime.warm_engine"
IDLE_S = 15 * 60
"""The server leaves after this long with no run."""
START_TIMEOUT_S = 120.0
PARENT_POLL_S = 0.5
ENGINE = "prefect.engine"
PACKAGES = ("flows", "tasks", "models", "expectations")
WARM_IMPORTS = (
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "flows.sync",
    "flows.backfill",
    "flows.reports",
    "flows.dispatch",
)


def _code_key() -> str:
    """What the server loaded: the interpreter, and the newest callsync source file and
    installed package (an upgrade gives another key, so another server)."""
    root = Path(__file__).resolve().parents[2]
    newest = 0.0
    count = 0
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            newest = max(newest, path.stat().st_mtime)
            count += 1
    site = Path(os.__file__).parent  # the stdlib; the venv's site-packages below
    for entry in sys.path:
        if entry.endswith("site-packages") and Path(entry).is_dir():
            site = Path(entry)
    ident = f"{sys.executable}\0{root}\0{newest}\0{count}\0{site.stat().st_mtime}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _private_dir() -> Path:
    """A directory only this user can enter: ``$XDG_RUNTIME_DIR``, else one of its own in the
    temporary directory (made 0700, and refused if another user made it first). The socket
    carries the runs' environments (their secrets) and standard streams."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime)
    path = Path(tempfile.gettempdir()) / f"callsync-warm-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or not path.is_dir() or path.is_symlink():
        raise PermissionError(f"{path} is not this user's private directory")
    return path


def socket_path(key: str | None = None) -> Path:
    return _private_dir() / f"callsync-warm-{key or _code_key()}.sock"


# -- client ----------------------------------------------------------------------------------


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def _start_server(path: Path) -> socket.socket | None:
    """Start the server (one at a time: a lock beside the socket) and connect to it."""
    lock_path = path.with_suffix(".lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(path)
        if sock is not None:
            return sock
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        log = path.with_suffix(".log").open("ab")
        try:
            subprocess.Popen(
                [sys.executable, "-m", MODULE, "--serve", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the server outlives this client and its worker
                env={**os.environ, "PREFECT__FLOW_RUN_ID": ""},
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            sock = _connect(path)
            if sock is not None:
                return sock
            time.sleep(0.1)  # the server is importing; it listens once it has
    return None


def _cold(argv: list[str]) -> None:
    """The ordinary start: this process becomes ``python -m prefect.engine``."""
    os.execv(sys.executable, [sys.executable, "-m", ENGINE, *argv])


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the warm-start server closed the connection")
        data += chunk
    return data


def client(argv: list[str]) -> None:
    try:
        path = socket_path()
    except OSError:
        _cold(argv)
        return
    sock = _connect(path) or _start_server(path)
    if sock is None:
        _cold(argv)
        return
    request = json.dumps(
        {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd(), "parent": os.getpid()}
    ).encode()
    try:
        fds = array.array("i", [0, 1, 2])
        sock.sendmsg(
            [struct.pack("!I", len(request)), request],
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())],
        )
        child = int(json.loads(_read_line(sock))["pid"])
    except (OSError, ConnectionError, ValueError, KeyError):
        sock.close()
        _cold(argv)
        return

    def relay(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, relay)
    try:
        status = int(json.loads(_read_line(sock))["status"])
    except (OSError, ConnectionError, ValueError, KeyError):
        # The server is gone (killed): the run may still be going; the worker must not take
        # this process's end for the run's while it writes.
        from flows.runtime.watchdog import pid_alive

        while pid_alive(child):
            time.sleep(PARENT_POLL_S)
        status = 1
    sys.exit(status)


# -- server ----------------------------------------------------------------------------------


def _warm_up() -> None:
    import importlib

    for name in WARM_IMPORTS:
        importlib.import_module(name)
    from expectations._gx import load_gx
    from expectations._templates import precompile
    from flows.runtime.prefect_tls import share_prefect_tls
    from tasks.pipeline.context import tls_context
    from tasks.store.engine import warm_drivers
    from tasks.store.migrations import migrations

    load_gx()
    precompile()  # GX's Data Docs templates, which every run's docs build renders
    migrations()  # the store's revisions, which every run's store checks it is at
    warm_drivers()
    tls_context()
    share_prefect_tls()


def _freeze_heap() -> None:
    """Keep the garbage collector of every forked run off what the server imported.

    The warm-up leaves ~380,000 objects that the collector tracks. A full collection in a
    forked run walks them all and writes to each one's header, which copies every page the
    child had shared with the server: measured, 0.23 CPU-s per collection.
    Frozen (``gc.freeze``, after one last collection of the warm-up's garbage), they are
    never walked again; what a run creates itself is collected as usual."""
    gc.collect()
    gc.freeze()


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    head, fds = b"", array.array("i")
    msg, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(3 * fds.itemsize))
    head += msg
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    while len(head) < 4:
        head += conn.recv(4 - len(head))
    size = struct.unpack("!I", head)[0]
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("client gone")
        body += chunk
    return json.loads(body), list(fds)


def _run_child(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the run's engine process (never returns)."""
    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = [ENGINE, *request["argv"]]
        _watch_client(int(request["parent"]))
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # this run's PREFECT_* settings, not the server's
        import runpy
        import warnings

        try:
            with warnings.catch_warnings():
                # runpy notes that the engine module was imported (by the warm-up) before it
                # runs as __main__: exactly what a warm start is.
                warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
                runpy.run_module(ENGINE, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the run's own errors are the engine's to report; this is a bug
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _watch_client(parent: int) -> None:
    """End the run when the client (and so the worker that started it) is gone."""
    import threading

    from flows.runtime.watchdog import pid_alive

    def watch() -> None:
        while pid_alive(parent):
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="callsync-client-watch", daemon=True).start()


def serve(path: Path) -> None:
    _warm_up()
    _freeze_heap()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener.bind(str(path))
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    running: dict[int, socket.socket] = {}
    idle_since = time.monotonic()
    path.with_suffix(".pid").write_text(str(os.getpid()))
    print(f"warm-start server {os.getpid()} listening on {path}", flush=True)
    try:
        while running or time.monotonic() - idle_since < IDLE_S:
            for key, _ in selector.select(timeout=60):
                if key.fileobj is listener:
                    _accept(listener, running)
                else:
                    os.read(wake_r, 512)
            _reap(running)
            if running:
                idle_since = time.monotonic()
    finally:
        for leftover in (path, path.with_suffix(".pid")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def server_pid() -> int | None:
    """The pid of this user's warm-start server of this code on this machine, if one runs."""
    try:
        return int(socket_path().with_suffix(".pid").read_text())
    except (OSError, ValueError):
        return None


def _accept(listener: socket.socket, running: dict[int, socket.socket]) -> None:
    conn, _ = listener.accept()
    try:
        request, fds = _receive(conn)
    except (OSError, ConnectionError, ValueError):
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        listener.close()
        for other in running.values():
            other.close()
        conn.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    try:
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    except OSError:
        os.kill(pid, signal.SIGTERM)
    running[pid] = conn


def _reap(running: dict[int, socket.socket]) -> None:
    while running:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = running.pop(pid, None)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"status": code if code >= 0 else 128 - code}).encode() + b"\n")
        conn.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(Path(sys.argv[2]))
    else:
        client(sys.argv[1:])
