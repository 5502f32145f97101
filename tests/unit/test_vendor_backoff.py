"""The one backoff of the vendor clients: the ceiling doubles and is capped, each jitter stays in
its range, a vendor's wait is a floor, and ``pause`` waits through the injected sleep."""

from __future__ import annotations

import random

import pytest

from tasks.vendor.backoff import Backoff, Jitter


class Recorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


CEILINGS = [1.0, 2.0, 4.0, 5.0, 5.0]  # base 1 s doubling, capped at 5 s


def test_full_jitter_spreads_each_retry_over_zero_to_its_ceiling() -> None:
    backoff = Backoff(1.0, 5.0, jitter="full", rng=random.Random(0))
    for attempt, ceiling in enumerate(CEILINGS):
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert min(delays) < ceiling / 4 and max(delays) > ceiling * 3 / 4  # the whole range


def test_equal_jitter_never_waits_less_than_half_the_ceiling() -> None:
    backoff = Backoff(1.0, 5.0, jitter="equal", rng=random.Random(0))
    for attempt, ceiling in enumerate(CEILINGS):
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_a_vendors_wait_is_a_floor_capped_at_the_maximum(jitter: Jitter) -> None:
    backoff = Backoff(0.5, 30.0, jitter=jitter)
    assert backoff.delay(0, at_least=7.0) >= 7.0
    assert backoff.delay(0, at_least=3600.0) == 30.0  # an hour asked for does not stall a run


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = Backoff(0.5, 8.0, rng=random.Random(42))
    second = Backoff(0.5, 8.0, rng=random.Random(42))
    assert [first.delay(n) for n in range(6)] == [second.delay(n) for n in range(6)]


def test_a_zero_base_never_waits() -> None:
    backoff = Backoff(0.0, 0.0, jitter="equal")
    assert [backoff.delay(n) for n in range(4)] == [0.0] * 4


@pytest.mark.anyio
async def test_pause_waits_the_delay_through_the_injected_sleep_and_logs_the_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleep = Recorder()
    backoff = Backoff(1.0, 5.0, sleep=sleep, rng=random.Random(3))
    with caplog.at_level("WARNING", logger="tasks.vendor.backoff"):
        waited = [await backoff.pause(n, why="Vendor GET /x: 503", retries=3) for n in range(3)]
    assert sleep.delays == waited
    assert [r.getMessage() for r in caplog.records] == [
        f"Vendor GET /x: 503; retry {n + 1} of 3 in {d:.2f} s" for n, d in enumerate(waited)
    ]
