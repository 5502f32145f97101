"""The store's shared rows: the run lease and the Zoho token claim (compare-and-swap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks.lease import LEASE_NAME, LeaseBusy, run_lease
from tasks.store import Store
from tasks.store.shared import StoredToken

T0 = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def two(tmp_path: Path) -> tuple[Store, Store, Clock]:
    """Two processes' stores on one database file."""
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    return Store(url, clock=clock), Store(url, clock=clock), clock


def test_a_lease_is_held_until_released_or_expired(two: tuple[Store, Store, Clock]) -> None:
    a, b, clock = two
    ttl = timedelta(minutes=3)
    assert a.acquire_lease(LEASE_NAME, "a", "sync run 1", ttl) is None
    held = b.acquire_lease(LEASE_NAME, "b", "sync run 2", ttl)
    assert held is not None and held.label == "sync run 1" and held.since == T0
    clock.now += timedelta(minutes=2)
    assert a.renew_lease(LEASE_NAME, "a", ttl)  # the heartbeat
    clock.now += timedelta(minutes=2)
    assert b.acquire_lease(LEASE_NAME, "b", "sync run 2", ttl) is not None  # renewed: still held
    clock.now += timedelta(minutes=2)  # a was killed: no heartbeat for 3 minutes
    assert b.acquire_lease(LEASE_NAME, "b", "sync run 2", ttl) is None
    assert not a.renew_lease(LEASE_NAME, "a", ttl)  # a's lease is gone
    b.release_lease(LEASE_NAME, "b")
    assert a.acquire_lease(LEASE_NAME, "a", "sync run 3", ttl) is None


def test_run_lease_says_who_holds_it_and_since_when(two: tuple[Store, Store, Clock]) -> None:
    a, b, _ = two
    with (
        run_lease(a, what="sync", run_id="r-1"),
        pytest.raises(LeaseBusy, match=r"sync run r-1, pid \d+ on .*since 2026-01-18T10:00"),
        run_lease(b, what="backfill", run_id="r-2"),
    ):
        pass
    with run_lease(b, what="backfill", run_id="r-2"):  # released at the end of the block
        pass


def test_one_token_refresh_at_a_time(two: tuple[Store, Store, Clock]) -> None:
    a, b, clock = two
    claim = timedelta(seconds=30)
    assert a.claim_token_refresh("t", "a", claim)
    assert not b.claim_token_refresh("t", "b", claim)
    token = StoredToken("sealed", "fp-1", "https://www.zohoapis.eu", T0 + timedelta(minutes=55))
    a.save_token("t", "a", token)  # saving releases the claim
    assert b.stored_token("t") == token
    assert b.claim_token_refresh("t", "b", claim)
    clock.now += timedelta(seconds=31)  # b died while minting: its claim runs out
    assert a.claim_token_refresh("t", "a", claim)
    b.invalidate_token("t", "fp-other")  # another token than the stored one: left alone
    assert a.stored_token("t") == token
    b.invalidate_token("t", "fp-1")
    stored = a.stored_token("t")
    assert stored is not None and stored.expires_at == clock.now
