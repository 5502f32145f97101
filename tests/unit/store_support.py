"""What the state-store tests share: a settable clock and a store on memory or on a file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks.store import Store

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
    url = "sqlite://" if request.param == "memory" else f"sqlite:///{tmp_path}/state/s.db"
    st = Store(url, clock=clock)
    yield st
    st.close()


# Registered under the names the tests ask for; each test module imports these two objects.
clock = pytest.fixture(clock_fixture, name="clock")
store = pytest.fixture(store_fixture, params=["memory", "file"], name="store")
