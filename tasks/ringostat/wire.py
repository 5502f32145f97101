"""Ringostat's wire format, pure: wall-clock times and the JSON/CSV answers of ``/calls/list``.

- ``from``, ``to`` and ``calldate`` are ``YYYY-MM-DD HH:MM:SS`` wall-clock times in the project's
  time zone, with no offset. Internally a wall time is an ``int``: seconds since 1970-01-01 00:00
  *of that wall clock*, which makes the window arithmetic plain integer arithmetic.
- Around a DST fall-back an hour of wall-clock times happens twice. :func:`wall_span` gives the
  smallest wall-clock range that covers every instant of an aware window, so a window that
  crosses the transition reads both copies of the repeated hour (extra rows are deduplicated).
- JSON answers mix strings and numbers; CSV answers (``;`` separated, header row) only have text.
  :func:`canonical_row` turns both into one form, ``dict[str, str]`` with ``""`` for null, so a
  row reads the same whichever export type fetched it; typing is the model layer's job. Its text
  is cleaned there too (control characters, lone surrogates: :mod:`tasks.text`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from models.call import mask_numbers
from tasks.text import clean_text

WIRE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Chunks short enough that no real zone has two offset changes inside one (so comparing the
# offsets at both ends finds every change), long enough to keep a year's backfill cheap.
_OFFSET_SCAN_CHUNK = timedelta(days=7)


class WireFormatError(ValueError):
    """An answer that is neither a JSON array of objects nor a ``;`` separated CSV table; the
    message says what it was instead ("an empty body", "a JSON dict (...)")."""


def _sample(text: str) -> str:
    """The start of an unexpected body, on one line, numbers masked (it may hold calls), for
    the error message."""
    return repr(mask_numbers(" ".join(text[:60].split())))


def require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def wall_seconds(value: datetime, zone: ZoneInfo) -> int:
    """The wall clock of ``zone`` at the instant ``value``, floored to the second."""
    local = value.astimezone(zone)
    return int(local.replace(tzinfo=UTC).timestamp() // 1)


def format_wall(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(WIRE_TIME_FORMAT)


def parse_wall(text: str) -> int:
    """``YYYY-MM-DD HH:MM:SS`` to wall seconds; ``ValueError`` otherwise."""
    parsed = datetime.strptime(text, WIRE_TIME_FORMAT).replace(tzinfo=UTC)
    return int(parsed.timestamp())


def _offset_drops(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Instants in (start, end] where the zone's UTC offset becomes smaller (a fall-back)."""
    found: list[datetime] = []
    left = start
    while left < end:
        right = min(left + _OFFSET_SCAN_CHUNK, end)
        before, after = left.astimezone(zone).utcoffset(), right.astimezone(zone).utcoffset()
        if before is not None and after is not None and after < before:
            lo, hi = left, right  # the offset is `before` at lo and `after` at hi
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == before:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        left = right
    return found


def wall_span(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[int, int]:
    """The wall-clock range (inclusive, seconds) that covers every instant of [start, end]."""
    require_aware(start, "start")
    require_aware(end, "end")
    lo, hi = wall_seconds(start, zone), wall_seconds(end, zone)
    for change in _offset_drops(start.astimezone(UTC), end.astimezone(UTC), zone):
        lo = min(lo, wall_seconds(change, zone))
        hi = max(hi, wall_seconds(change - timedelta(seconds=1), zone))
    return lo, max(lo, hi)


def canonical_value(value: object) -> str:
    """One text form for a wire value: JSON numbers and CSV cells compare equal."""
    if type(value) is str:  # the common case first: this runs for every cell of every row
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def canonical_row(row: Mapping[str, Any]) -> dict[str, str]:
    """The row as callsync keeps it: every value text, and every text cleaned
    (:func:`tasks.text.clean_text`: no control characters, no lone surrogates), so no value of
    an answer can make storing the call fail."""
    # Printable text is the common case: no call at all for it (this runs for every cell).
    return {
        k if type(k) is str and k.isprintable() else _clean_key(k): v
        if type(v) is str and v.isprintable()
        else clean_text(canonical_value(v))
        for k, v in row.items()
        if k is not None
    }


def _clean_key(key: Any) -> str:
    return clean_text(key if type(key) is str else str(key))


def parse_json_rows(text: str) -> list[dict[str, Any]]:
    """The array of objects of a JSON answer, values as sent (see :func:`canonical_row`).

    Only an array (``[]`` included) is a call list: an empty body, an object, ``null`` or HTML
    raise :class:`WireFormatError`, never "no calls" (a proxy's empty 200 would otherwise move
    the cursor past calls never read)."""
    text = text.lstrip("\ufeff").strip()
    if not text:
        raise WireFormatError("an empty body")
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise WireFormatError(f"a body that is not JSON ({_sample(text)})") from exc
    if not isinstance(body, list):
        raise WireFormatError(f"a JSON {type(body).__name__} ({_sample(text)})")
    if not all(isinstance(item, dict) for item in body):
        raise WireFormatError(f"an array of non-objects ({_sample(text)})")
    return body


def parse_csv_rows(text: str) -> list[dict[str, Any]]:
    """The rows of a ``;`` separated CSV answer with a header line (a header alone: no calls;
    no header at all, HTML or JSON: :class:`WireFormatError`)."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise WireFormatError("an empty body")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";")
    if not reader.fieldnames or reader.fieldnames[0].lstrip().startswith(("<", "{", "[")):
        raise WireFormatError(f"a body that is not a ';' separated table ({_sample(text)})")
    # Short lines give None for the missing cells and surplus cells land under the key None:
    # canonical_row turns the former into "" and drops the latter.
    return list(reader)
