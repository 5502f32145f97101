"""One run at a time per state store: the run lease.

A sync, a backfill and a reports refresh each take the store's run lease before they write
anything. A run that finds it held by a live run stops at once with :class:`LeaseBusy` — one
line naming the holder and since when — and the flows turn that into a success that wrote
nothing: the schedule simply comes round again.

How a dead holder lets go:

- **PostgreSQL**: the lease is an advisory lock held by a database session of the run's own
  (:mod:`tasks.store.locks`). A killed run's session ends with it, and the lock with the
  session: the next run takes it at once. (A holder on this host that is already gone while its
  session is still closing is waited for, :data:`DEAD_HOLDER_WAIT` at most.)
- **SQLite** (and any other database): a row with an expiry, renewed from a background thread
  every :data:`HEARTBEAT` (a thread, so a step holding the event loop does not starve it). The
  row names the holder's process (host, pid, start mark): a holder on this host whose process
  is gone — or whose pid now belongs to another process — is taken over at once. A holder on
  another host is taken over when its lease expires (:data:`LEASE_TTL` after its last beat).

**Fencing.** A run can lose its lease while it still runs: paused (SIGSTOP, a frozen VM, a
laptop lid) past its expiry and taken over, or its PostgreSQL session ended. :meth:`RunLease.check`
says so — it renews the row when the lease is still this run's, and raises :class:`LeaseLost`
otherwise — and the Zoho writer calls it before every write request, so a run that lost its
lease stops before its next write instead of writing beside its successor.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from tasks.store.locks import SessionLock
from tasks.store.shared import HolderProcess, LeaseHeld

log = logging.getLogger(__name__)

LEASE_NAME = "callsync:runs"
LEASE_TTL = timedelta(minutes=3)
"""How long a run killed on another host blocks the next one at most (SQLite)."""
HEARTBEAT = timedelta(seconds=30)
DEAD_HOLDER_WAIT = timedelta(seconds=10)
"""PostgreSQL: how long to wait for the lock of a holder on this host whose process is gone
(its session ends as soon as the server reads the closed socket)."""


class LeaseBackend(Protocol):
    """What the lease needs of :class:`tasks.store.Store`."""

    @property
    def session_locks(self) -> bool: ...
    def take_session_lock(
        self, name: str, *, wait: timedelta | None = None
    ) -> SessionLock | None: ...
    def acquire_lease(
        self,
        name: str,
        holder: str,
        label: str,
        ttl: timedelta,
        *,
        process: HolderProcess | None = None,
        evict: str | None = None,
    ) -> LeaseHeld | None: ...
    def lease_holder(self, name: str) -> LeaseHeld | None: ...
    def record_lease_holder(
        self, name: str, holder: str, label: str, process: HolderProcess | None
    ) -> None: ...
    def renew_lease(self, name: str, holder: str, ttl: timedelta) -> bool: ...
    def release_lease(self, name: str, holder: str) -> None: ...


class LeaseBusy(Exception):
    """Another run holds the lease; the message is the one line the operator sees."""

    def __init__(self, held: LeaseHeld) -> None:
        self.held = held
        until = (
            f"the lease is free by {held.expires_at.isoformat(timespec='seconds')} at the latest"
            if held.expires_at is not None
            else "the lease is free as soon as that run ends"
        )
        since = f", since {held.since.isoformat(timespec='seconds')}" if held.since else ""
        super().__init__(
            f"another callsync run holds this state store ({held.label}{since}): nothing done; "
            f"{until}"
        )


class LeaseLost(RuntimeError):
    """This run no longer holds the store's run lease: it must not write anything more."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"this run lost the state store's run lease ({why}): stopped before its next "
            "write; the run holding the store now, or the next one, continues"
        )


def process_identity() -> str:
    """This process as the owner of a lease or a token refresh: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), None when the
    process does not exist (or this system has no /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_mark(pid: int) -> str | None:
    """Which process ``pid`` is: the boot and the start time (clock ticks since boot), which a
    later process given the same pid does not share. None without /proc."""
    fields = _stat(pid)
    return f"{_boot_id()}:{fields[19]}" if fields and len(fields) > 19 else None


def this_process() -> HolderProcess:
    pid = os.getpid()
    return HolderProcess(socket.gethostname(), pid, start_mark(pid))


def process_gone(process: HolderProcess) -> bool:
    """On this host: the process has ended (or is a zombie), or its pid is another process's
    now. A process on another host is never judged gone (its lease expires instead)."""
    if process.host != socket.gethostname():
        return False
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's process: it exists
    fields = _stat(process.pid)
    if fields is None:
        return False  # no /proc: the pid exists, nothing more to tell
    if fields[0] in ("Z", "X"):
        return True  # killed, not yet reaped by its parent
    return process.started is not None and start_mark(process.pid) != process.started


class RunLease:
    """The run lease this run holds (yielded by :func:`run_lease`)."""

    def __init__(
        self, store: LeaseBackend, holder: str, ttl: timedelta, lock: SessionLock | None
    ) -> None:
        self.store = store
        self.holder = holder
        self._ttl = ttl
        self._lock = lock
        self._lost: str | None = None

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this run still holds the lease (and renew it: a run
        that checks before each write keeps its lease while it writes)."""
        if self._lost is None:
            if self._lock is not None:
                if not self._lock.held():
                    self._lost = "its database session ended"
            elif not self.store.renew_lease(LEASE_NAME, self.holder, self._ttl):
                self._lost = "another run took it over after it expired"
        if self._lost is not None:
            raise LeaseLost(self._lost)

    @property
    def lost(self) -> str | None:
        """Why the lease was lost, as far as this run has noticed; None while it holds it."""
        return self._lost

    def _beat(self) -> None:
        if self._lost is None and not self.store.renew_lease(LEASE_NAME, self.holder, self._ttl):
            self._lost = "another run took it over after it expired"
            log.error("the run lease was taken over: this run stops before its next write")


def _take_row(store: LeaseBackend, me: str, label: str, ttl: timedelta) -> None:
    """SQLite: the lease row by compare-and-swap, or from a holder on this host that is gone."""
    process = this_process()
    held = store.acquire_lease(LEASE_NAME, me, label, ttl, process=process)
    if held is not None and held.process is not None and process_gone(held.process):
        log.warning(
            "the run lease was held by pid %d on this host, which has ended: taken over",
            held.process.pid,
        )
        held = store.acquire_lease(LEASE_NAME, me, label, ttl, process=process, evict=held.holder)
    if held is not None:
        raise LeaseBusy(held)


def _take_lock(store: LeaseBackend, me: str, label: str) -> SessionLock:
    """PostgreSQL: the lease's session lock (waiting briefly for a holder that is gone)."""
    lock = store.take_session_lock(LEASE_NAME)
    if lock is None:
        held = store.lease_holder(LEASE_NAME)
        if held is not None and held.process is not None and process_gone(held.process):
            lock = store.take_session_lock(LEASE_NAME, wait=DEAD_HOLDER_WAIT)
        if lock is None:
            # No row yet: the holder took the lock a moment ago and is writing its name.
            raise LeaseBusy(held or LeaseHeld("another run, starting", None, None))
    try:
        store.record_lease_holder(LEASE_NAME, me, label, this_process())
    except BaseException:
        lock.release()
        raise
    return lock


@contextmanager
def run_lease(
    store: LeaseBackend,
    *,
    what: str,
    run_id: str,
    ttl: timedelta = LEASE_TTL,
    heartbeat: timedelta = HEARTBEAT,
    holder: str | None = None,
) -> Iterator[RunLease]:
    """Hold the store's run lease for the block or raise :class:`LeaseBusy` before anything
    else happens. Pass the yielded lease's :meth:`~RunLease.check` to the writer."""
    me = holder or process_identity()
    label = f"{what} run {run_id}, pid {os.getpid()} on {socket.gethostname()}"
    if store.session_locks:
        lock = _take_lock(store, me, label)
        try:
            yield RunLease(store, me, ttl, lock)
        finally:
            try:
                store.release_lease(LEASE_NAME, me)
            finally:
                lock.release()
        return

    _take_row(store, me, label, ttl)
    lease = RunLease(store, me, ttl, None)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat.total_seconds()) and lease.lost is None:
            try:
                lease._beat()
            except Exception:  # the next beat tries again; the lease has minutes to spare
                log.warning("could not renew the run lease", exc_info=True)

    thread = threading.Thread(target=beat, name="callsync-lease", daemon=True)
    thread.start()
    try:
        yield lease
    finally:
        stop.set()
        thread.join()
        store.release_lease(LEASE_NAME, me)
