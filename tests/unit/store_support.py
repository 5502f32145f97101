"""What the state-store tests share: a settable clock and a store on SQLite (memory, a file) or
on a PostgreSQL database of its own (skipped without a server: tests/support/databases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks.store import Store
from tests.support.databases import store_database

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def clock_fixture() -> Clock:
    return Clock()


def store_fixture(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Store]:
    if request.param == "memory":
        st = Store("sqlite://", clock=clock)
        yield st
        st.close()
        return
    backend = "sqlite" if request.param == "file" else request.param
    with store_database(backend, tmp_path / "state") as url:
        st = Store(url, clock=clock)
        yield st
        st.close()


Two = tuple[Store, Store, Clock]
"""Two processes' stores on one database (and their one clock)."""


@contextmanager
def two_stores(
    backend: str, tmp_path: Path, now: datetime = T0, tenant: str = "default"
) -> Iterator[Two]:
    """Two stores of ``tenant`` on one new database of ``backend``, as two processes open it."""
    clock = Clock(now)
    with store_database(backend, tmp_path) as url:
        a, b = Store(url, tenant=tenant, clock=clock), Store(url, tenant=tenant, clock=clock)
        try:
            yield a, b, clock
        finally:
            a.close()
            b.close()


# Registered under the names the tests ask for; each test module imports these two objects.
clock = pytest.fixture(clock_fixture, name="clock")
store = pytest.fixture(store_fixture, params=["memory", "file", "postgresql"], name="store")
