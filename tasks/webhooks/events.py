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
- ``calldate``, when present, must be ``YYYY-MM-DD HH:MM:SS`` (the call log's format, in
  ``ringostat.timezone``); when absent, the time the event arrived counts;
- ``call_type`` defaults to ``in`` (pickup, after-call) or ``out`` (outgoing-after-call);
- values are kept as text (numbers as Ringostat writes them), one over :data:`MAX_VALUE_CHARS`
  cut with ``…``; a nested value is unreadable;
- every name and value is cleaned (:func:`tasks.text.clean_text`: control characters other than
  tab and newlines removed, lone surrogates replaced) before anything else looks at it, so no
  value is the reason an event is refused or cannot be stored.

Anything else that cannot be read raises :class:`BadWebhook` with a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from tasks.text import clean_text

TOKEN_PARAM = "token"
TOKEN_HEADER = "X-Callsync-Token"
_CALLDATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
MAX_VALUE_CHARS = 16 * 1024


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
        text = clean_text(str(value)).strip()
        if len(text) > MAX_VALUE_CHARS:  # cut as field values are: never a reason to refuse
            text = text[: MAX_VALUE_CHARS - 1] + "…"
        return text
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
    calldate = row.get("calldate", "")
    if not calldate:
        local = received_at.astimezone(ZoneInfo(timezone))
        row["calldate"] = local.strftime("%Y-%m-%d %H:%M:%S")
    elif not _CALLDATE.fullmatch(calldate):
        raise BadWebhook("parameter 'calldate' is not YYYY-MM-DD HH:MM:SS")
    if not row.get("call_type"):
        row["call_type"] = kind.default_call_type
    return WebhookEvent(kind=kind, uniqueid=uniqueid, row=row, received_at=received_at)


def pickup_row(event: WebhookEvent) -> dict[str, str]:
    """The row the planner reads for a pickup: the call as answered (the handset is picked up).

    Durations are those of a call just answered; the log sync later reads the finished call.
    """
    row = dict(event.row)
    row["disposition"] = "ANSWERED"
    row.setdefault("duration", "0")
    row.setdefault("billsec", "0")
    return row
