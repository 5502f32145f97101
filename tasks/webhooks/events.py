"""Ringostat webhooks → inbox events. Pure: no HTTP, no store, no Prefect (SPEC 12).

A webhook carries some of a call's parameters under names the Ringostat admin chose. This module
turns one into a :class:`WebhookEvent` whose ``row`` uses the call log's own field names, so the
rest of callsync (parser, planner, writer) reads it exactly as a call-log row.

Rules:

- names are mapped through ``[webhook] params`` (Ringostat name → call-log name); the call log's
  own names are always accepted too; a mapped name wins over the same call-log name;
- the token (``token``) is never part of the row;
- required: ``uniqueid`` and the client number (``caller`` for incoming events, ``dst`` for
  ``outgoing-after-call``); anything else is optional;
- ``calldate`` may be in any date format Ringostat lets a project choose for a webhook:
  ``YYYY-MM-DD HH:MM:SS`` (the call log's own), ISO 8601 with or without an offset
  (``2026-03-02T10:30:05+02:00``, ``…Z``), ``DD.MM.YYYY HH:MM:SS``, or Unix seconds; values
  without an offset are wall-clock time in ``ringostat.timezone``. The row gets it in the call
  log's format (:func:`calldate_text`), so the parser and the store's ``calldate`` ordering read
  webhook rows and call-log rows alike. When absent, the time the event arrived counts;
- ``call_type`` defaults to ``in`` (pickup, after-call) or ``out`` (outgoing-after-call);
- values are kept as text (numbers as Ringostat writes them); a nested value is unreadable;
- a single value longer than :data:`MAX_VALUE_CHARS` is cut to it, ending in ``…``, as values
  too long for their Zoho field are: a visitor-controlled value (a landing URL, a UTM tag) never
  costs the caller their event. The whole body stays capped by the receiver (``413``);
- every name and value is cleaned (:func:`tasks.text.clean_text`: control characters other than
  tab and newlines removed, lone surrogates replaced) before anything else looks at it, so no
  value is the reason an event is refused or cannot be stored.

Anything else that cannot be read raises :class:`BadWebhook` with a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from tasks.text import clean_text
from tasks.zoho.fit import cut

TOKEN_PARAM = "token"
TOKEN_HEADER = "X-Callsync-Token"
MAX_VALUE_CHARS = 16 * 1024
"""The longest single value kept; longer ones are cut (the body limit is the receiver's)."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")
_DOTTED = re.compile(
    r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})[ T]"
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
)
_UNIX = re.compile(r"\d{9,11}(?:\.\d+)?")
"""Unix seconds from 1973 to 5138: a 13-digit value (milliseconds) is not read as seconds."""
CALLDATE_FORMATS = "YYYY-MM-DD HH:MM:SS, ISO 8601, DD.MM.YYYY HH:MM:SS or Unix seconds"


class EventKind(StrEnum):
    """The three webhooks callsync receives; the value is the endpoint's last path part."""

    PICKUP = "pickup"
    AFTER_CALL = "after-call"
    OUTGOING_AFTER_CALL = "outgoing-after-call"

    @property
    def client_field(self) -> str:
        return "dst" if self is EventKind.OUTGOING_AFTER_CALL else "caller"

    @property
    def default_call_type(self) -> str:
        return "out" if self is EventKind.OUTGOING_AFTER_CALL else "in"


class BadWebhook(ValueError):
    """The event cannot be read; the message is the one-line reason the sender gets."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One accepted webhook: what happened to which call, as a call-log row."""

    kind: EventKind
    uniqueid: str
    row: Mapping[str, str]
    received_at: datetime

    @property
    def key(self) -> str:
        """The inbox key: a repeated webhook has the same one."""
        return f"{self.kind.value}:{self.uniqueid}"


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | str):
        return cut(clean_text(str(value)).strip(), MAX_VALUE_CHARS)
    raise BadWebhook(f"parameter {name!r} is not a single value")


def map_params(params: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, str]:
    """Parameters under the call log's names (``names``: Ringostat name → call-log name)."""
    row: dict[str, str] = {}
    mapped: set[str] = set()
    for raw_name, value in params.items():
        if raw_name == TOKEN_PARAM:
            continue
        name = clean_text(raw_name)
        target = names.get(name)
        if target is not None:
            row[target] = _text(name, value)
            mapped.add(target)
        elif name not in mapped:
            row[name] = _text(name, value)
    return row


def _parse_calldate(text: str, tz: ZoneInfo) -> datetime | None:
    """A webhook ``calldate`` in any of :data:`CALLDATE_FORMATS` → aware, or None."""
    try:
        if _UNIX.fullmatch(text):
            return datetime.fromtimestamp(float(text), UTC)
        if _ISO_DATE.match(text):
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        elif (m := _DOTTED.fullmatch(text)) is not None:
            parts = (m["y"], m["m"], m["d"], m["H"], m["M"], m["S"] or "0")
            year, month, day, hour, minute, second = (int(p) for p in parts)
            parsed = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - zone below
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    # Naive: wall-clock time of the project, read as the call log's calldate is (fold=0).
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz, fold=0)


def calldate_text(moment: datetime, tz: ZoneInfo) -> str:
    """``moment`` in the call log's ``YYYY-MM-DD HH:MM:SS`` (wall-clock time in ``tz``).

    In the repeated hour of an autumn clock change the wall time alone would be read as its
    first occurrence: there the offset is added (``2025-10-26 03:30:00+02:00``), which the
    call-log parser keeps, and which sorts beside the same wall time without it.
    """
    local = moment.astimezone(tz)
    wall = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.replace(fold=0).utcoffset() == local.utcoffset():
        return wall
    return wall + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]


def read_event(
    kind: EventKind,
    params: Mapping[str, Any],
    *,
    names: Mapping[str, str],
    received_at: datetime,
    timezone: str,
) -> WebhookEvent:
    """A webhook's parameters → :class:`WebhookEvent`, or :class:`BadWebhook`."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    row = map_params(params, names)
    uniqueid = row.get("uniqueid", "")
    if not uniqueid:
        raise BadWebhook("missing parameter 'uniqueid'")
    if len(uniqueid) > 255:
        raise BadWebhook("parameter 'uniqueid' is longer than 255 characters")
    if not row.get(kind.client_field):
        raise BadWebhook(f"missing parameter {kind.client_field!r} (the client number)")
    tz = ZoneInfo(timezone)
    calldate = row.get("calldate", "")
    moment = _parse_calldate(calldate, tz) if calldate else received_at
    if moment is None:
        raise BadWebhook(f"parameter 'calldate' is not a date-time ({CALLDATE_FORMATS})")
    row["calldate"] = calldate_text(moment, tz)
    if not row.get("call_type"):
        row["call_type"] = kind.default_call_type
    return WebhookEvent(kind=kind, uniqueid=uniqueid, row=row, received_at=received_at)


EMPLOYEE_FIELDS = ("connected_with", "employee_number")
"""Where a pickup names the employee who answered (the call log's own names)."""


def first_answerer(row: Mapping[str, str]) -> str | None:
    """The employee a pickup event names as the one who answered, or None. In a transferred call
    that is the first one; the call log names the last (the planner's transfer rule)."""
    return next((row[f].strip() for f in EMPLOYEE_FIELDS if (row.get(f) or "").strip()), None)


def pickup_row(event: WebhookEvent) -> dict[str, str]:
    """The row the planner reads for a pickup: the call as answered (the handset is picked up).

    Durations are those of a call just answered; the log sync later reads the finished call.
    """
    row = dict(event.row)
    row["disposition"] = "ANSWERED"
    row.setdefault("duration", "0")
    row.setdefault("billsec", "0")
    return row
