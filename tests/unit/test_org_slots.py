"""A Zoho org's concurrency slots in the store: every process of a tenant together keeps to the
org's allowance; a killed holder's slot frees after its ttl; other tenants' slots are theirs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from tasks.store import Store
from tasks.zoho.org_slots import OrgSlots
from tests.support.databases import BACKENDS
from tests.unit.store_support import Two, two_stores

TTL = timedelta(seconds=35)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Two]:
    """Two processes' stores of one tenant (and one clock)."""
    with two_stores(request.param, tmp_path, T0, tenant="acme") as two:
        yield two


def test_the_allowance_holds_across_processes(stores: Two) -> None:
    a, b, _ = stores
    assert a.take_org_slot(2, "proc-a", TTL) == 0
    assert b.take_org_slot(2, "proc-b", TTL) == 1
    assert a.take_org_slot(2, "proc-a", TTL) is None  # the org is full, whoever asks
    assert a.org_slots_in_use() == 2
    b.free_org_slot(1, "proc-b")
    assert a.take_org_slot(2, "proc-a", TTL) == 1
    other = Store(a.url, tenant="globex")
    try:
        assert other.take_org_slot(2, "proc-g", TTL) == 0  # another org, its own slots
    finally:
        other.close()


def test_a_dead_holders_slot_frees_after_its_ttl(stores: Two) -> None:
    a, b, clock = stores
    assert a.take_org_slot(1, "killed", TTL) == 0
    assert b.take_org_slot(1, "alive", TTL) is None
    clock.now += TTL + timedelta(seconds=1)
    assert b.take_org_slot(1, "alive", TTL) == 0
    a.free_org_slot(0, "killed")  # the late release of the old holder frees nothing of ours
    assert a.take_org_slot(1, "third", TTL) is None


def test_a_request_waits_for_a_slot_then_gives_it_back(
    stores: Two,
) -> None:
    a, b, _ = stores
    assert b.take_org_slot(1, "busy", TTL) == 0
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) == 2:  # the other process's request answers meanwhile
            b.free_org_slot(0, "busy")

    slots = OrgSlots(a, slots=1, holder="proc-a", ttl=TTL, sleep=sleep)

    async def request() -> None:
        async with slots.held() as slot:
            assert slot == 0 and a.org_slots_in_use() == 1

    anyio.run(request)
    assert slots.waits == 2 and waited == [0.02, 0.04]
    assert a.org_slots_in_use() == 0
