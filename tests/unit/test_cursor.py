"""Ingest cursor rules: closed start, lookback, never past the run start, never backwards."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from tasks.ringostat.cursor import (
    IngestCursor,
    Window,
    advance,
    daily_windows,
    plan_window,
    split_window,
)

T0 = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(minutes=120)


def test_the_first_run_starts_at_the_initial_start() -> None:
    window = plan_window(
        None, run_started_at=T0, lookback=LOOKBACK, initial_start=T0 - timedelta(hours=24)
    )
    assert window == Window(T0 - timedelta(hours=24), T0)


def test_later_runs_reread_the_lookback_before_the_cursor() -> None:
    cursor = IngestCursor(T0 - timedelta(minutes=10))
    window = plan_window(cursor, run_started_at=T0, lookback=LOOKBACK, initial_start=T0)
    assert window.start == cursor.position - LOOKBACK
    assert window.end == T0


def test_reread_from_reaches_further_back_but_never_shortens() -> None:
    cursor = IngestCursor(T0 - timedelta(minutes=10))
    deferred = T0 - timedelta(hours=6)
    window = plan_window(
        cursor, run_started_at=T0, lookback=LOOKBACK, initial_start=T0, reread_from=deferred
    )
    assert window.start == deferred
    recent = plan_window(
        cursor, run_started_at=T0, lookback=LOOKBACK, initial_start=T0, reread_from=T0
    )
    assert recent.start == cursor.position - LOOKBACK


def test_a_cursor_ahead_of_the_clock_gives_an_empty_window_not_an_inverted_one() -> None:
    cursor = IngestCursor(T0 + timedelta(hours=5))
    window = plan_window(cursor, run_started_at=T0, lookback=LOOKBACK, initial_start=T0)
    assert window == Window(T0, T0)


def test_advance_moves_to_the_window_end() -> None:
    window = Window(T0 - timedelta(hours=2), T0)
    assert advance(None, window, run_started_at=T0) == IngestCursor(T0)
    older = IngestCursor(T0 - timedelta(hours=1))
    assert advance(older, window, run_started_at=T0) == IngestCursor(T0)


def test_advance_never_passes_the_run_start() -> None:
    window = Window(T0 - timedelta(hours=2), T0 + timedelta(hours=1))  # e.g. an explicit --to
    assert advance(None, window, run_started_at=T0).position == T0


def test_advance_never_moves_backwards() -> None:
    ahead = IngestCursor(T0)
    backfill = Window(T0 - timedelta(days=3), T0 - timedelta(days=2))
    assert advance(ahead, backfill, run_started_at=T0 + timedelta(minutes=5)) is ahead


def test_consecutive_runs_overlap_by_the_lookback_and_leave_no_gap() -> None:
    cursor: IngestCursor | None = None
    covered: list[Window] = []
    for run in range(5):
        started = T0 + timedelta(minutes=15 * run)
        window = plan_window(
            cursor, run_started_at=started, lookback=LOOKBACK, initial_start=T0 - timedelta(days=1)
        )
        covered.append(window)
        cursor = advance(cursor, window, run_started_at=started)
    for previous, current in itertools.pairwise(covered):
        assert current.start <= previous.end  # overlap (closed windows): nothing falls between
        assert current.start == previous.end - LOOKBACK


@pytest.mark.parametrize(
    "make",
    [
        lambda: IngestCursor(datetime(2025, 1, 1)),  # noqa: DTZ001
        lambda: Window(datetime(2025, 1, 1), T0),  # noqa: DTZ001
        lambda: Window(T0, T0 - timedelta(seconds=1)),
        lambda: plan_window(None, run_started_at=T0, lookback=-LOOKBACK, initial_start=T0),
        lambda: split_window(Window(T0, T0 + LOOKBACK), 0),
        lambda: split_window(Window(T0, T0 + LOOKBACK), timedelta(0)),
        lambda: daily_windows(date(2025, 1, 2), date(2025, 1, 1), "Europe/Kyiv"),
    ],
)
def test_bad_input_is_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


def test_split_window_into_parts_covers_it_without_gaps() -> None:
    window = Window(T0, T0 + timedelta(hours=10))
    parts = split_window(window, 4)
    assert len(parts) == 4
    assert parts[0].start == window.start and parts[-1].end == window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert all(p.duration == timedelta(hours=2, minutes=30) for p in parts)


def test_split_window_by_length_keeps_the_remainder() -> None:
    window = Window(T0, T0 + timedelta(days=2, hours=5))
    parts = split_window(window, timedelta(days=1))
    assert [p.duration for p in parts] == [timedelta(days=1), timedelta(days=1), timedelta(hours=5)]
    assert parts[-1].end == window.end
    assert split_window(Window(T0, T0), timedelta(days=1)) == [Window(T0, T0)]


def test_daily_windows_follow_local_midnights_across_dst() -> None:
    days = daily_windows(date(2025, 3, 29), date(2025, 3, 31), "Europe/Kyiv")
    assert len(days) == 3
    assert [d.duration for d in days] == [
        timedelta(hours=24),
        timedelta(hours=23),
        timedelta(hours=24),
    ]
    assert days[0].start.astimezone(UTC) == datetime(2025, 3, 28, 22, tzinfo=UTC)
    assert all(a.end == b.start for a, b in itertools.pairwise(days))
