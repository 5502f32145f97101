"""Working hours: when the company works, as wall-clock intervals per weekday.

Where they come from (Zoho's Business Hours settings, or ``[scenario.business_hours]``) and what
is counted with them (deadlines, reminders, who is on shift) is :mod:`tasks.scenario.hours`.
This module only holds the shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MINUTES_PER_DAY = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Index = ``date.weekday()``."""

Interval = tuple[int, int]
"""``(start, end)`` in minutes after local midnight, ``0 <= start < end <= 1440``."""

HoursSource = Literal["24x7", "zoho", "config"]


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Working intervals for each weekday, Monday first, in the company's time zone.

    ``source`` says where they came from, for run summaries and the doctor: ``24x7`` (no hours
    configured anywhere: every moment is working time), ``zoho`` (the org's Business Hours
    settings) or ``config`` (``[scenario.business_hours]``).
    """

    week: tuple[tuple[Interval, ...], ...]
    source: HoursSource = "24x7"

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("working hours need one entry per weekday (7)")
        for day, intervals in zip(WEEKDAYS, self.week, strict=True):
            last_end = -1
            for start, end in intervals:
                if not 0 <= start < end <= MINUTES_PER_DAY or start < last_end:
                    raise ValueError(
                        f"working hours on {day}: {intervals} are not ordered, non-overlapping "
                        "intervals within the day"
                    )
                last_end = end
        if not any(self.week):
            raise ValueError("working hours with no working time at all")

    @classmethod
    def always(cls) -> WorkingHours:
        """24×7: every moment is working time (no business hours configured)."""
        return cls(week=tuple(((0, MINUTES_PER_DAY),) for _ in WEEKDAYS), source="24x7")

    @classmethod
    def weekly(
        cls, days: tuple[str, ...], start: int, end: int, *, source: HoursSource
    ) -> WorkingHours:
        """The same ``start``–``end`` (minutes after midnight) on each of ``days``."""
        wanted = {d.lower()[:3] for d in days}
        unknown = wanted - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekdays {sorted(unknown)}: use {', '.join(WEEKDAYS)}")
        return cls(
            week=tuple(((start, end),) if d in wanted else () for d in WEEKDAYS), source=source
        )

    @property
    def is_always(self) -> bool:
        return all(day == ((0, MINUTES_PER_DAY),) for day in self.week)

    def describe(self) -> str:
        """``Mon–Fri 09:00–18:00``-style text for summaries and task descriptions."""
        if self.is_always:
            return "24×7"
        parts: list[str] = []
        for day, intervals in zip(WEEKDAYS, self.week, strict=True):
            if intervals:
                times = ", ".join(f"{_hhmm(s)}–{_hhmm(e)}" for s, e in intervals)
                parts.append(f"{day.capitalize()} {times}")
        return "; ".join(parts)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_hhmm(text: str) -> int:
    """``"09:00"`` → 540; ``"24:00"`` (the end of the day) → 1440. Raises ``ValueError``."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"{text!r} is not a time of day like '09:00'")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is not a time of day like '09:00'")
    return value
