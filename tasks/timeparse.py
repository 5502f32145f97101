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
            if end:
                moment = moment + timedelta(days=1) - timedelta(seconds=1)
            return moment.astimezone(UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimeError(
            f"{value!r} is not an ISO 8601 date or date-time (e.g. 2026-11-24 or 2026-11-24T09:30)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
