"""The ingest cursor: where the next read of Ringostat's call log starts. Pure rules, no I/O.

Rules (SPEC sections 2 and 9; the dlt ``Incremental`` / Singer state idea):

- a window is ``[start, end]`` with a **closed start**: the boundary second is read again by the
  next window, and the overlap is deduplicated by ``uniqueid`` downstream;
- every run re-reads ``lookback`` before its cursor (calls that were in progress, arrived late,
  or got their recording late); ``reread_from`` can reach further back, e.g. to the oldest call
  still deferred as in progress;
- the window ends at the run's start time, and the cursor **never passes the run's start time**
  (calls stamped later may still be written) and **never moves backwards**.

Committing is the flow's job, not this module's: read the window, store the calls and record
their planned writes, and only then call :func:`advance` and persist the result (the
``cursors`` table). A run that crashes before that point leaves the cursor where it was, so the
next run reads the same window again; the state store's per-call status makes that re-read
harmless.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tasks.ringostat.wire import require_aware


def _utc(value: datetime, name: str) -> datetime:
    # Arithmetic on datetimes that share a ZoneInfo is wall-clock arithmetic (24 h "days" across
    # DST); in UTC it is real elapsed time.
    require_aware(value, name)
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class IngestCursor:
    """How far the call log has been read and stored. ``position`` is aware (kept in UTC)."""

    position: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", _utc(self.position, "cursor position"))


@dataclass(frozen=True, slots=True)
class Window:
    """A span of the call log, closed on both ends (as Ringostat's ``from``/``to`` are).

    Both ends must be aware; they are kept in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, "window start"))
        object.__setattr__(self, "end", _utc(self.end, "window end"))
        if self.end < self.start:
            raise ValueError(
                f"window end {self.end.isoformat()} is before its start {self.start.isoformat()}"
            )

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def plan_window(
    cursor: IngestCursor | None,
    *,
    run_started_at: datetime,
    lookback: timedelta,
    initial_start: datetime,
    reread_from: datetime | None = None,
) -> Window:
    """The window one run reads: from ``cursor - lookback`` (or ``initial_start`` when there is
    no cursor yet), or earlier ``reread_from``, up to ``run_started_at``.

    A start later than the run's start (a clock set back, a cursor from the future) is clamped to
    it, giving an empty window rather than an inverted one.
    """
    end = _utc(run_started_at, "run_started_at")
    initial = _utc(initial_start, "initial_start")
    if lookback < timedelta(0):
        raise ValueError(f"lookback must not be negative, got {lookback}")
    start = initial if cursor is None else cursor.position - lookback
    if reread_from is not None:
        start = min(start, _utc(reread_from, "reread_from"))
    return Window(start=min(start, end), end=end)


def advance(
    cursor: IngestCursor | None, window: Window, *, run_started_at: datetime
) -> IngestCursor:
    """The cursor after ``window`` was read and its calls stored: the window's end, but never past
    the run's start and never behind the current cursor."""
    position = min(window.end, _utc(run_started_at, "run_started_at"))
    if cursor is not None and cursor.position > position:
        return cursor
    return IngestCursor(position=position)


def split_window(window: Window, parts: int | timedelta) -> list[Window]:
    """Cut a window (a backfill's date range) into consecutive windows.

    ``parts`` is either a number of equal windows or the longest a window may be. Neighbours
    share their boundary (windows are closed), so together they cover ``window`` with no gap.
    """
    if isinstance(parts, timedelta):
        if parts <= timedelta(0):
            raise ValueError(f"window length must be positive, got {parts}")
        count = max(1, -(-window.duration // parts))  # ceiling division of timedeltas
        step = parts
    else:
        if parts < 1:
            raise ValueError(f"parts must be at least 1, got {parts}")
        count = parts
        step = window.duration / parts
    if window.duration == timedelta(0):
        return [window]
    bounds = [window.start + step * i for i in range(count)] + [window.end]
    bounds = [min(b, window.end) for b in bounds]
    return [Window(start=a, end=b) for a, b in itertools.pairwise(bounds) if a < b]


def daily_windows(first: date, last: date, timezone: str) -> list[Window]:
    """One window per calendar day ``first..last`` (inclusive), midnight to midnight in
    ``timezone``, so a backfill follows the project's own days across DST changes."""
    if last < first:
        raise ValueError(f"last day {last} is before the first day {first}")
    zone = ZoneInfo(timezone)
    days = (last - first).days + 1
    edges = [
        datetime.combine(first + timedelta(days=i), time(0), tzinfo=zone) for i in range(days + 1)
    ]
    return [Window(start=a, end=b) for a, b in itertools.pairwise(edges)]
