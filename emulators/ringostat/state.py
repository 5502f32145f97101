"""In-memory call log of the Ringostat emulator.

Rows are kept exactly as they were posted (strings and numbers as Ringostat sends them) and
keyed by ``uniqueid``: posting a row whose ``uniqueid`` is already there replaces it, which is
how a call in progress becomes final or gets its recording late. Rows without a ``uniqueid``
(malformed rows the product must quarantine) are kept too, each as its own entry.

Time filtering works on wall-clock seconds in the project's time zone, like the ``from``/``to``
parameters and ``calldate`` on the wire. A ``calldate`` that is not in Ringostat's format is
placed by a lenient parse (``2025-03-03T10:15:00``, ``2025-03-03 10:15``, ``03.03.2025 10:15:00``)
so that test data with a malformed date still shows up in the window it belongs to; a date that
cannot be read at all is placed at the moment it was posted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from emulators.ringostat.fields import WIRE_TIME_FORMAT

Row = dict[str, Any]

_LENIENT_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y/%m/%d %H:%M:%S")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def wall_seconds(value: datetime) -> int:
    """Seconds since 1970-01-01 00:00 of the wall clock shown by ``value`` (its own zone)."""
    return int(value.replace(tzinfo=UTC).timestamp())


_WIRE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")


def parse_wire_time(text: str) -> int:
    """``YYYY-MM-DD HH:MM:SS`` to wall seconds; ``ValueError`` for anything else."""
    # A regex and datetime() instead of strptime: this runs for every posted row.
    match = _WIRE_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not {WIRE_TIME_FORMAT}: {text!r}")
    year, month, day, hour, minute, second = map(int, match.groups())
    return wall_seconds(datetime(year, month, day, hour, minute, second, tzinfo=UTC))


def lenient_wall_seconds(value: object) -> int | None:
    """Place a ``calldate`` on the wall clock, accepting a few malformed spellings."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return parse_wire_time(text)
    except ValueError:
        pass
    try:
        return wall_seconds(datetime.fromisoformat(text))
    except ValueError:
        pass
    for fmt in _LENIENT_FORMATS:
        try:
            return wall_seconds(datetime.strptime(text, fmt).replace(tzinfo=UTC))
        except ValueError:
            continue
    return None


@dataclass
class _Stored:
    at: int
    seq: int
    row: Row


@dataclass
class RingostatState:
    """The emulator's whole state: the call log plus request statistics.

    ``clock`` gives the current instant (aware); it decides the default ``from``/``to`` (the last
    24 hours) and where rows with an unreadable ``calldate`` are placed. ``max_rows`` is the cap
    of rows per answer (6,500 on the real API).
    """

    timezone: str = "Europe/Kyiv"
    max_rows: int = 6500
    clock: Callable[[], datetime] = _utc_now
    requests: int = 0
    _rows: dict[str, _Stored] = field(default_factory=dict, repr=False)
    _seq: int = field(default=0, repr=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def now_wall(self) -> int:
        """The injected clock's current instant as wall seconds in the project's zone."""
        return wall_seconds(self.clock().astimezone(self.zone))

    def reset(self) -> None:
        self._rows.clear()
        self._seq = 0
        self.requests = 0

    def __len__(self) -> int:
        return len(self._rows)

    def upsert(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store rows; a row with a known ``uniqueid`` replaces the stored one. Returns the count."""
        count = 0
        for raw in rows:
            row = dict(raw)
            self._seq += 1
            at = lenient_wall_seconds(row.get("calldate"))
            uniqueid = row.get("uniqueid")
            if isinstance(uniqueid, str | int) and str(uniqueid).strip():
                key = f"u:{uniqueid}"
                previous = self._rows.get(key)
                # A replaced row keeps its place among rows of the same second.
                seq = previous.seq if previous is not None else self._seq
            else:
                key = f"anonymous:{self._seq}"
                seq = self._seq
            self._rows[key] = _Stored(at=self.now_wall() if at is None else at, seq=seq, row=row)
            count += 1
        return count

    def rows(self) -> list[Row]:
        """Every stored row in calldate order (copies)."""
        return [dict(s.row) for s in sorted(self._rows.values(), key=lambda s: (s.at, s.seq))]

    def query(
        self,
        start: int,
        end: int,
        *,
        filters: Mapping[str, str] | None = None,
        descending: bool = False,
    ) -> list[Row]:
        """Rows with ``start <= calldate <= end`` (wall seconds), filtered and ordered, capped."""
        hits = [
            s
            for s in self._rows.values()
            if start <= s.at <= end and _matches(s.row, filters or {})
        ]
        hits.sort(key=lambda s: (s.at, s.seq), reverse=descending)
        # The real API truncates silently: no flag, no next page.
        return [dict(s.row) for s in hits[: self.max_rows]]


def _matches(row: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    return all(_as_text(row.get(name)) == wanted for name, wanted in filters.items())


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
