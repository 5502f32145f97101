"""Working time: deadlines and reminders counted in working hours. Pure, no clock.

Working hours (:class:`models.hours.WorkingHours`) are wall-clock intervals per weekday in the
company's time zone. They come from, first match wins (:func:`effective_hours`):

1. ``[scenario.business_hours]`` (``days``, ``start``, ``end``) when the config gives it;
2. Zoho's Business Hours settings (``GET /crm/v8/settings/business_hours``, read by
   ``ZohoClient.business_hours``);
3. 24×7 — also what Zoho's settings mean when none are configured.

Counting rules:

- "N working hours after a moment" (:func:`add_working_time`) consumes only time inside working
  intervals: a call that ends Friday 19:30 with Mon–Fri 09:00–18:00 and 4 hours is due Monday
  13:00; one that ends at 01:00 is due 13:00 the same morning. A deadline that uses up a working
  interval exactly falls on its end (18:00), not on the next morning.
- Time is real elapsed time: a working interval that spans a clock change is an hour shorter or
  longer (24×7 across the spring jump is 23 real hours that day). Interval bounds are wall-clock
  times read like ``calldate``: a repeated time is its first occurrence, a skipped one the
  moment the clock jumped to.
- A moment is working time when ``start <= moment < end`` of an interval; a deadline lies in
  ``start < deadline <= end`` of one, so a reminder at the deadline never fires outside working
  hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from models.hours import MINUTES_PER_DAY, WEEKDAYS, WorkingHours, parse_hhmm
from models.settings import BusinessHoursSettings, ScenarioSettings


def from_settings(config: BusinessHoursSettings) -> WorkingHours:
    """``[scenario.business_hours]`` as working hours."""
    return WorkingHours.weekly(
        tuple(config.days), parse_hhmm(config.start), parse_hhmm(config.end), source="config"
    )


def effective_hours(scenario: ScenarioSettings, zoho: WorkingHours | None) -> WorkingHours:
    """The working hours in force: the config's when given, else Zoho's, else 24×7."""
    if scenario.business_hours is not None:
        return from_settings(scenario.business_hours)
    return zoho if zoho is not None else WorkingHours.always()


def _at(day: date, minute: int, tz: ZoneInfo) -> datetime:
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    wall = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    return wall.astimezone(UTC)


def periods(
    after: datetime, hours: WorkingHours, tz: ZoneInfo
) -> Iterator[tuple[datetime, datetime]]:
    """Working periods ``(start, end)`` (aware, UTC) that end after ``after``, in time order;
    endless (every week has working time)."""
    day = after.astimezone(tz).date() - timedelta(days=1)  # a period may have begun yesterday
    while True:
        for start, end in hours.week[day.weekday()]:
            begins, ends = _at(day, start, tz), _at(day, end, tz)
            if ends > after:
                yield begins, ends
        day += timedelta(days=1)


def add_working_time(
    start: datetime, duration: timedelta, hours: WorkingHours, tz: ZoneInfo
) -> datetime:
    """The moment ``duration`` of working time after ``start`` (aware; see the module doc)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if hours.is_always:
        return start + duration
    left = duration
    for begins, ends in periods(start, hours, tz):
        begins = max(begins, start)
        if left <= ends - begins:
            return begins + left
        left -= ends - begins
    raise AssertionError("unreachable: periods() never ends")  # pragma: no cover


def next_working_moment(moment: datetime, hours: WorkingHours, tz: ZoneInfo) -> datetime:
    """``moment`` when it is working time, else the start of the next working period."""
    for begins, ends in periods(moment, hours, tz):
        if begins <= moment < ends:
            return moment
        if begins > moment:
            return begins
    raise AssertionError("unreachable: periods() never ends")  # pragma: no cover


def is_working(moment: datetime, hours: WorkingHours, tz: ZoneInfo) -> bool:
    """Whether ``moment`` is working time (``start <= moment < end`` of an interval)."""
    return next_working_moment(moment, hours, tz) == moment


def within_hours(deadline: datetime, hours: WorkingHours, tz: ZoneInfo) -> bool:
    """Whether a deadline or reminder lies in working hours (``start < t <= end``, or ``t`` at a
    start with working time after it)."""
    for begins, ends in periods(deadline - timedelta(microseconds=1), hours, tz):
        if begins <= deadline <= ends:
            return True
        if begins > deadline:
            return False
    raise AssertionError("unreachable: periods() never ends")  # pragma: no cover


__all__ = [
    "WEEKDAYS",
    "add_working_time",
    "effective_hours",
    "from_settings",
    "is_working",
    "next_working_moment",
    "periods",
    "within_hours",
]
