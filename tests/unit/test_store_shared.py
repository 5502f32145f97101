"""The store's shared rows and locks: the run lease and the Zoho token claim, on SQLite and
PostgreSQL (two stores on one database stand for two processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tasks.lease import LEASE_NAME, LeaseBusy, LeaseLost, run_lease, start_mark
from tasks.store import Store
from tasks.store.shared import HolderProcess, StoredToken
from tests.support.databases import BACKENDS, libpq_url, store_database
from tests.unit.store_support import Clock, Two, two_stores

T0 = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=3)


@pytest.fixture(params=BACKENDS)
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Two]:
    """Two processes' stores on one database."""
    with two_stores(request.param, tmp_path, T0) as stores:
        yield stores


@pytest.fixture
def two_sqlite(tmp_path: Path) -> Iterator[Two]:
    with two_stores("sqlite", tmp_path, T0) as stores:
        yield stores


def test_a_lease_row_is_held_until_released_or_expired(two: Two) -> None:
    a, b, clock = two
    assert a.acquire_lease(LEASE_NAME, "a", "sync run 1", TTL) is None
    held = b.acquire_lease(LEASE_NAME, "b", "sync run 2", TTL)
    assert held is not None and held.label == "sync run 1" and held.since == T0
    clock.now += timedelta(minutes=2)
    assert a.renew_lease(LEASE_NAME, "a", TTL)  # the heartbeat
    clock.now += timedelta(minutes=2)
    assert b.acquire_lease(LEASE_NAME, "b", "sync run 2", TTL) is not None  # renewed: still held
    clock.now += timedelta(minutes=2)  # a was killed: no heartbeat for 3 minutes
    assert b.acquire_lease(LEASE_NAME, "b", "sync run 2", TTL) is None
    assert not a.renew_lease(LEASE_NAME, "a", TTL)  # a's lease is gone
    b.release_lease(LEASE_NAME, "b")
    assert a.acquire_lease(LEASE_NAME, "a", "sync run 3", TTL) is None


def test_run_lease_says_who_holds_it_and_since_when(two: Two) -> None:
    a, b, _ = two
    with (
        run_lease(a, what="sync", run_id="r-1"),
        pytest.raises(LeaseBusy, match=r"sync run r-1, pid \d+ on .*since 2026-01-18T10:00"),
        run_lease(b, what="backfill", run_id="r-2"),
    ):
        pass
    with run_lease(b, what="backfill", run_id="r-2"):  # released at the end of the block
        pass


def _dead_process() -> HolderProcess:
    """A process of this host that has ended (started, reaped), as a lease row names it."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"],
                            stdin=subprocess.PIPE)  # fmt: skip
    mark = start_mark(proc.pid)
    proc.communicate(b"\n")
    return HolderProcess(socket.gethostname(), proc.pid, mark)


def test_sqlite_a_holder_on_this_host_whose_process_is_gone_is_taken_over_at_once(
    two_sqlite: Two,
) -> None:
    a, b, _ = two_sqlite
    assert a.acquire_lease(LEASE_NAME, "dead", "sync run 1", TTL, process=_dead_process()) is None
    with run_lease(b, what="sync", run_id="r-2") as lease:  # no expiry waited for
        lease.check()


@pytest.mark.parametrize(
    "who",
    [
        "this process",  # alive
        "another host",  # cannot be judged from here: its lease expires instead
    ],
)
def test_sqlite_a_live_or_remote_holder_keeps_the_lease(two_sqlite: Two, who: str) -> None:
    a, b, _ = two_sqlite
    me = HolderProcess(socket.gethostname(), os.getpid(), start_mark(os.getpid()))
    if who == "another host":
        dead = _dead_process()
        me = HolderProcess("elsewhere.example", dead.pid, dead.started)
    assert a.acquire_lease(LEASE_NAME, "holder", "sync run 1", TTL, process=me) is None
    with pytest.raises(LeaseBusy, match=r"sync run 1.*free by 2026-01-18T10:03"):
        run_lease(b, what="sync", run_id="r-2").__enter__()


def test_sqlite_a_pid_now_used_by_another_process_is_not_the_holder(two_sqlite: Two) -> None:
    a, b, _ = two_sqlite
    reused = HolderProcess(socket.gethostname(), os.getpid(), "another-boot:1")
    assert a.acquire_lease(LEASE_NAME, "old", "sync run 1", TTL, process=reused) is None
    with run_lease(b, what="sync", run_id="r-2"):
        pass


def test_sqlite_a_run_paused_past_its_expiry_and_taken_over_is_fenced(two_sqlite: Two) -> None:
    a, b, clock = two_sqlite
    with run_lease(a, what="sync", run_id="r-1") as paused:
        paused.check()  # holds it
        clock.now += TTL + timedelta(seconds=1)  # no heartbeat: paused
        with run_lease(b, what="sync", run_id="r-2") as successor:
            successor.check()
            with pytest.raises(LeaseLost, match="another run took it over"):
                paused.check()
        with pytest.raises(LeaseLost):  # and stays lost, even once the successor ended
            paused.check()


def test_sqlite_a_check_after_expiry_keeps_a_lease_nobody_took(two_sqlite: Two) -> None:
    a, _, clock = two_sqlite
    with run_lease(a, what="sync", run_id="r-1") as lease:
        clock.now += TTL * 2
        lease.check()  # nobody took it: renewed, still ours


@pytest.fixture
def two_pg(tmp_path: Path) -> Iterator[tuple[Two, str]]:
    clock = Clock(T0)
    with store_database("postgresql", tmp_path) as url:
        a, b = Store(url, clock=clock), Store(url, clock=clock)
        yield (a, b, clock), url
        a.close()
        b.close()


def test_postgresql_the_lease_is_a_session_lock_freed_when_the_session_ends(
    two_pg: tuple[Two, str],
) -> None:
    (a, b, clock), url = two_pg
    with run_lease(a, what="sync", run_id="r-1") as held:
        clock.now += timedelta(hours=1)  # no expiry on PostgreSQL: the session holds it
        with pytest.raises(
            LeaseBusy, match=r"sync run r-1, pid \d+.*free as soon as that run ends"
        ):
            run_lease(b, what="sync", run_id="r-2").__enter__()
        held.check()
        # The session ends (killed holder, server restart, an operator): the lock is free...
        with psycopg.connect(libpq_url(url), autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid, 60000) FROM pg_locks WHERE locktype = 'advisory' "
                # Only this test's database: tests on other databases run beside it (xdist).
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall()
        assert ended == [(True,)]
        with run_lease(b, what="sync", run_id="r-2") as successor:
            successor.check()
            # ...and the run that held it stops before its next write.
            with pytest.raises(LeaseLost, match="its database session ended"):
                held.check()


def _end_token_claim_sessions(url: str) -> int:
    """PostgreSQL: end the sessions holding a token row lock (what killing the process does)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND state = 'idle in transaction'"
        ).fetchall()
    return len(ended)


def test_one_token_refresh_at_a_time(two: Two) -> None:
    a, b, clock = two
    claim = timedelta(seconds=30)
    assert a.claim_token_refresh("t", "a", claim)
    assert not b.claim_token_refresh("t", "b", claim)
    token = StoredToken("sealed", "fp-1", "https://www.zohoapis.eu", T0 + timedelta(minutes=55))
    a.save_token("t", "a", token)  # saving releases the claim
    assert b.stored_token("t") == token
    assert b.claim_token_refresh("t", "b", claim)
    assert not a.claim_token_refresh("t", "a", claim)
    if a.session_locks:
        # b dies while minting: its transaction, and the row lock, end with its session (no
        # waiting for the claim to run out)
        assert _end_token_claim_sessions(a.url) == 1
    else:
        clock.now += timedelta(seconds=31)  # b died while minting: its claim runs out
    assert a.claim_token_refresh("t", "a", claim)
    a.release_token_refresh("t", "a")
    b.invalidate_token("t", "fp-other")  # another token than the stored one: left alone
    assert a.stored_token("t") == token
    b.invalidate_token("t", "fp-1")
    stored = a.stored_token("t")
    assert stored is not None and stored.expires_at == clock.now
