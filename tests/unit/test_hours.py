"""Working time: deadlines counted in working hours, reminders inside them, across clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models.hours import WorkingHours, parse_hhmm
from models.settings import ConfigError, ScenarioSettings, load_settings
from tasks.scenario.hours import (
    add_working_time,
    effective_hours,
    from_settings,
    is_working,
    next_working_moment,
    within_hours,
)

KYIV = ZoneInfo("Europe/Kyiv")
OFFICE = WorkingHours.weekly(("mon", "tue", "wed", "thu", "fri"), 9 * 60, 18 * 60, source="config")
FOUR = timedelta(hours=4)


def kyiv(text: str) -> datetime:
    """A wall-clock time in Kyiv (``2026-01-16 19:30``) as an aware instant."""
    return datetime.fromisoformat(text).replace(tzinfo=KYIV)


@pytest.mark.parametrize(
    ("ended", "due"),
    [
        ("2026-01-16 19:30", "2026-01-19 13:00"),  # Friday evening → Monday 13:00
        ("2026-01-19 01:00", "2026-01-19 13:00"),  # a night call → 13:00 the same morning
        ("2026-01-17 10:00", "2026-01-19 13:00"),  # Saturday → Monday
        ("2026-01-19 09:00", "2026-01-19 13:00"),  # at the opening
        ("2026-01-19 14:00", "2026-01-19 18:00"),  # uses the day up exactly: due at closing
        ("2026-01-19 16:30", "2026-01-20 11:30"),  # 1.5 h today, 2.5 h tomorrow
        ("2026-01-19 18:00", "2026-01-20 13:00"),  # at closing: tomorrow
        ("2026-01-16 17:59", "2026-01-19 12:59"),
        # spring jump (29 March 2026, 03:00 → 04:00): working hours are wall-clock hours
        ("2026-03-27 19:30", "2026-03-30 13:00"),
        # autumn fall-back (25 October 2026, 04:00 → 03:00)
        ("2026-10-23 17:00", "2026-10-26 12:00"),
    ],
)
def test_deadlines_count_working_hours(ended: str, due: str) -> None:
    deadline = add_working_time(kyiv(ended), FOUR, OFFICE, KYIV)
    assert deadline == kyiv(due)
    assert within_hours(deadline, OFFICE, KYIV)


def test_the_dst_deadlines_carry_the_offset_of_their_day() -> None:
    spring = add_working_time(kyiv("2026-03-27 19:30"), FOUR, OFFICE, KYIV)
    assert spring.astimezone(KYIV).isoformat() == "2026-03-30T13:00:00+03:00"
    assert spring == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    autumn = add_working_time(kyiv("2026-10-23 17:00"), FOUR, OFFICE, KYIV)
    assert autumn.astimezone(KYIV).isoformat() == "2026-10-26T12:00:00+02:00"


@pytest.mark.parametrize(
    ("start", "hours"),
    [
        (datetime(2025, 3, 29, 23, 31, 30, tzinfo=UTC), 4),  # across the spring jump
        (datetime(2025, 10, 26, 0, 31, 30, tzinfo=UTC), 4),  # across the autumn fall-back
        (datetime(2026, 1, 18, 8, 0, tzinfo=UTC), 24),
    ],
)
def test_24x7_is_real_elapsed_time(start: datetime, hours: int) -> None:
    due = timedelta(hours=hours)
    assert add_working_time(start, due, WorkingHours.always(), KYIV) == start + due
    # counted interval by interval (every day whole, but split at noon) it is the same
    halves = WorkingHours(week=(((0, 720), (720, 1440)),) * 7, source="zoho")
    assert not halves.is_always
    assert add_working_time(start, due, halves, KYIV) == start + due


def test_every_deadline_and_reminder_lies_inside_working_hours() -> None:
    # a call ending every 37 minutes for two weeks, with split hours (a lunch break)
    split = WorkingHours(week=(((540, 780), (840, 1080)),) * 5 + (((600, 840),), ()), source="zoho")
    moment = kyiv("2026-03-23 00:00")
    while moment < kyiv("2026-04-06 00:00"):
        for due in (FOUR, timedelta(hours=1), timedelta(minutes=5)):
            deadline = add_working_time(moment, due, split, KYIV)
            assert within_hours(deadline, split, KYIV), (moment, deadline)
            assert deadline > moment
        moment += timedelta(minutes=37)


def test_working_moments() -> None:
    assert is_working(kyiv("2026-01-19 09:00"), OFFICE, KYIV)
    assert is_working(kyiv("2026-01-19 17:59"), OFFICE, KYIV)
    assert not is_working(kyiv("2026-01-19 18:00"), OFFICE, KYIV)
    assert not is_working(kyiv("2026-01-17 12:00"), OFFICE, KYIV)  # Saturday
    assert next_working_moment(kyiv("2026-01-16 19:30"), OFFICE, KYIV) == kyiv("2026-01-19 09:00")
    assert next_working_moment(kyiv("2026-01-19 10:00"), OFFICE, KYIV) == kyiv("2026-01-19 10:00")
    assert not within_hours(kyiv("2026-01-19 05:02"), OFFICE, KYIV)  # the 05:02 reminder
    assert not within_hours(kyiv("2026-01-16 23:32"), OFFICE, KYIV)  # ... and its 23:32 deadline
    assert within_hours(kyiv("2026-01-19 18:00"), OFFICE, KYIV)


def test_naive_or_negative_input_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_working_time(datetime(2026, 1, 19, 10), FOUR, OFFICE, KYIV)  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        add_working_time(kyiv("2026-01-19 10:00"), -FOUR, OFFICE, KYIV)


def test_config_hours_win_over_zohos() -> None:
    zoho = WorkingHours.weekly(("mon",), 600, 660, source="zoho")
    plain = ScenarioSettings()
    assert effective_hours(plain, None) == WorkingHours.always()
    assert effective_hours(plain, zoho) == zoho
    given = ScenarioSettings(business_hours={"days": ["MON", "Tuesday"], "start": "08:30"})
    hours = effective_hours(given, zoho)
    assert hours == from_settings(given.business_hours)  # type: ignore[arg-type]
    assert (hours.source, hours.describe()) == ("config", "Mon 08:30–18:00; Tue 08:30–18:00")


@pytest.mark.parametrize(
    ("business_hours", "message"),
    [
        ({"days": []}, "at least one working day"),
        ({"days": ["mon", "funday"]}, "scenario.business_hours.days"),
        ({"start": "9am"}, "is not a time of day"),
        ({"end": "25:00"}, "is not a time of day"),
        ({"start": "18:00", "end": "09:00"}, "must be before end"),
        ({"lunch": "13:00"}, "unknown key 'scenario.business_hours.lunch'"),
    ],
)
def test_business_hours_config_errors(business_hours: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides={"scenario": {"business_hours": business_hours}})


def test_end_of_day_and_times() -> None:
    assert (parse_hhmm("09:00"), parse_hhmm("24:00"), parse_hhmm(" 7:05 ")) == (540, 1440, 425)
    night = WorkingHours.weekly(("sun",), 18 * 60, 24 * 60, source="config")
    assert add_working_time(kyiv("2026-01-18 23:00"), FOUR, night, KYIV) == kyiv("2026-01-25 21:00")
    with pytest.raises(ValueError, match="no working time"):
        WorkingHours(week=((),) * 7)
