"""The Zoho org's concurrency allowance, shared by every process of one tenant.

:class:`ZohoClient <tasks.zoho.client.ZohoClient>` keeps its own requests in flight under
``[zoho] max_concurrency``; with ``[zoho] org_max_concurrency`` set it also holds one of the
org's slots in the state store (:mod:`tasks.store.slots`) for each request, so that a sync on one
worker, the webhook receiver on another machine and a report started by hand together stay
within what Zoho allows the org (a 429 past it, and no header saying when to come back).

Why the store and not Prefect's global concurrency limits (measured, benchmarks/bench_org_slots.py):
a slot here is one short transaction to take and one to give back on the database every process
already uses, and a killed holder's slot frees after one request timeout; a Prefect limit is two
HTTP calls to the Prefect server per Zoho request — a server every worker shares, which becomes
the bottleneck of the whole pool — and a killed holder keeps its slot for the lease's duration.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Protocol

import anyio
import anyio.to_thread
from sqlalchemy.exc import IntegrityError

from tasks.vendor.backoff import Sleep

log = logging.getLogger(__name__)

FIRST_WAIT_S = 0.02
LONGEST_WAIT_S = 0.5
"""How long a request waits before asking again for a slot, doubling from the first to the
longest: the org's slots turn over every request (a fraction of a second)."""


class SlotBackend(Protocol):
    """What the slots need of :class:`tasks.store.Store`."""

    def take_org_slot(self, slots: int, holder: str, ttl: timedelta) -> int | None: ...
    def free_org_slot(self, slot: int, holder: str) -> None: ...


class OrgSlots:
    """One process's access to the org's ``slots``; ``holder`` names the process."""

    def __init__(
        self,
        backend: SlotBackend,
        *,
        slots: int,
        holder: str,
        ttl: timedelta,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self._backend = backend
        self.slots = slots
        self.holder = holder
        self._ttl = ttl
        self._sleep = sleep
        self.waits = 0
        """How many times a request found every slot taken (the org was busy)."""

    def _take(self) -> int | None:
        try:
            return self._backend.take_org_slot(self.slots, self.holder, self._ttl)
        except IntegrityError:  # another process created the slot rows at the same moment
            return None

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[int]:
        """Hold a slot for the block (waiting while the org's slots are all in use)."""
        wait = FIRST_WAIT_S
        while (slot := await anyio.to_thread.run_sync(self._take)) is None:
            self.waits += 1
            await self._sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_S)
        try:
            yield slot
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled request gives its slot back
                try:
                    await anyio.to_thread.run_sync(self._backend.free_org_slot, slot, self.holder)
                except Exception:
                    # The run is ending (its store closed, its database gone): the slot frees
                    # itself at its ttl, as a killed holder's does.
                    log.debug("could not give the org's slot %d back", slot, exc_info=True)
