"""Command-line and parameter times: ISO 8601 dates or date-times, naive ones in a given zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class TimeError(ValueError):
    pass


def parse_when(value: str, timezone: str, *, end: bool = False) -> datetime:
    """``2026-11-24`` or ``2026-11-24T10:00[:00][+02:00]`` → aware UTC datetime.

    A bare date means the start of that day, or with ``end=True`` the end of it (so that
    ``--from 2026-11-24 --to 2026-11-24`` covers the whole day).
    """
    text = value.strip()
    tz = ZoneInfo(timezone)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=tz)
            _exists(moment, value, timezone)
            if end:
                moment = moment + timedelta(days=1) - timedelta(seconds=1)
            return moment.astimezone(UTC)
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
            _exists(parsed, value, timezone)
        return parsed.astimezone(UTC)
    except OverflowError:
        # Year 1 or 9999 shifted to UTC leaves the calendar datetime can hold.
        raise TimeError(f"{value!r} is out of range: give a date of this century") from None
    except ValueError as exc:
        if isinstance(exc, TimeError):
            raise
        raise TimeError(
            f"{value!r} is not an ISO 8601 date or date-time (e.g. 2026-11-24 or 2026-11-24T09:30)"
        ) from None


def _exists(local: datetime, value: str, timezone: str) -> None:
    """A naive time the clocks skip (the spring change: 03:00 → 04:00 in Kyiv) does not exist;
    taken as it is, it would land an hour off and could turn a window around."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise TimeError(
            f"{value} does not exist in {timezone}: the clocks skip it when they go forward; "
            "give a time after the change (or with its offset, e.g. +03:00)"
        )
