"""One run at a time per state store: a lease with an expiry and a heartbeat (SPEC 13).

A sync, a backfill and a reports refresh each take the store's run lease before they write
anything. A run that finds it held stops at once with :class:`LeaseBusy` — one line naming the
holder and since when — and the flows turn that into a success that wrote nothing: the schedule
simply comes round again. The holder renews the lease from a background thread every
:data:`HEARTBEAT` (a thread, so that a step holding the event loop for a while does not starve
it); a holder killed with SIGKILL stops renewing, and its lease is free :data:`LEASE_TTL` later.
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
from typing import Protocol

from tasks.store.shared import LeaseHeld

log = logging.getLogger(__name__)

LEASE_NAME = "callsync:runs"
LEASE_TTL = timedelta(minutes=3)
"""How long a killed run blocks the next one at most."""
HEARTBEAT = timedelta(seconds=30)


class LeaseBackend(Protocol):
    """What the lease needs of :class:`tasks.store.Store`."""

    def acquire_lease(
        self, name: str, holder: str, label: str, ttl: timedelta
    ) -> LeaseHeld | None: ...
    def renew_lease(self, name: str, holder: str, ttl: timedelta) -> bool: ...
    def release_lease(self, name: str, holder: str) -> None: ...


class LeaseBusy(Exception):
    """Another run holds the lease; the message is the one line the operator sees."""

    def __init__(self, held: LeaseHeld) -> None:
        self.held = held
        super().__init__(
            f"another callsync run holds this state store ({held.label}, since "
            f"{held.since.isoformat(timespec='seconds')}): nothing done; the lease is free by "
            f"{held.expires_at.isoformat(timespec='seconds')} at the latest"
        )


def process_identity() -> str:
    """This process as the owner of a lease or a token refresh: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def run_lease(
    store: LeaseBackend,
    *,
    what: str,
    run_id: str,
    ttl: timedelta = LEASE_TTL,
    heartbeat: timedelta = HEARTBEAT,
    holder: str | None = None,
) -> Iterator[str]:
    """Hold the store's run lease for the block (yields the holder id) or raise
    :class:`LeaseBusy` before anything else happens."""
    me = holder or process_identity()
    label = f"{what} run {run_id}, pid {os.getpid()} on {socket.gethostname()}"
    held = store.acquire_lease(LEASE_NAME, me, label, ttl)
    if held is not None:
        raise LeaseBusy(held)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat.total_seconds()):
            try:
                if not store.renew_lease(LEASE_NAME, me, ttl):
                    log.error("the run lease was taken over: this run ran past its lease")
                    return
            except Exception:  # the next beat tries again; the lease has minutes to spare
                log.warning("could not renew the run lease", exc_info=True)

    thread = threading.Thread(target=beat, name="callsync-lease", daemon=True)
    thread.start()
    try:
        yield me
    finally:
        stop.set()
        thread.join()
        store.release_lease(LEASE_NAME, me)
