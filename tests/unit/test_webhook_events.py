"""Webhook parameters → inbox events (pure): names, required fields, defaults, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasks.webhooks.events import BadWebhook, EventKind, map_params, pickup_row, read_event

AT = datetime(2026, 3, 2, 8, 30, 5, tzinfo=UTC)  # 10:30:05 in Kyiv


def _read(kind: EventKind, params: dict[str, Any], names: dict[str, str] | None = None) -> Any:
    return read_event(kind, params, names=names or {}, received_at=AT, timezone="Europe/Kyiv")


def test_mapped_names_are_added_and_the_token_never_kept() -> None:
    row = map_params(
        {"phone": "380501112233", "caller": "ignored", "token": "t", "src": "google"},
        {"phone": "caller", "src": "utm_source"},
    )
    assert row == {"caller": "380501112233", "utm_source": "google"}


def test_defaults_when_absent() -> None:
    event = _read(EventKind.PICKUP, {"uniqueid": "u1", "caller": "380501112233"})
    assert event.key == "pickup:u1"
    assert event.row["calldate"] == "2026-03-02 10:30:05"
    assert event.row["call_type"] == "in"
    out = _read(EventKind.OUTGOING_AFTER_CALL, {"uniqueid": "u2", "dst": "380501112233"})
    assert out.row["call_type"] == "out"
    assert pickup_row(event)["disposition"] == "ANSWERED"


@pytest.mark.parametrize(
    ("kind", "params", "reason"),
    [
        (EventKind.PICKUP, {"caller": "1"}, "missing parameter 'uniqueid'"),
        (EventKind.PICKUP, {"uniqueid": " ", "caller": "1"}, "missing parameter 'uniqueid'"),
        (EventKind.AFTER_CALL, {"uniqueid": "u"}, "missing parameter 'caller' (the client number)"),
        (EventKind.OUTGOING_AFTER_CALL, {"uniqueid": "u", "caller": "1"}, "missing parameter 'dst' (the client number)"),
        (EventKind.PICKUP, {"uniqueid": "u", "caller": "1", "calldate": "02.03.2026"}, "parameter 'calldate' is not YYYY-MM-DD HH:MM:SS"),
        (EventKind.PICKUP, {"uniqueid": "u", "caller": {"a": 1}}, "parameter 'caller' is not a single value"),
        (EventKind.PICKUP, {"uniqueid": "x" * 256, "caller": "1"}, "parameter 'uniqueid' is longer than 255 characters"),
    ],
)  # fmt: skip
def test_unreadable_events(kind: EventKind, params: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadWebhook) as err:
        _read(kind, params)
    assert str(err.value) == reason


def test_numbers_and_booleans_are_kept_as_text() -> None:
    event = _read(
        EventKind.AFTER_CALL, {"uniqueid": 123, "caller": 380501112233, "has_recording": True}
    )
    assert event.uniqueid == "123"
    assert event.row["caller"] == "380501112233"
    assert event.row["has_recording"] == "1"
