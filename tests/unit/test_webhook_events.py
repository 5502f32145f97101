"""Webhook parameters → inbox events (pure): names, required fields, defaults, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tasks.calls import parse_calldate
from tasks.webhooks.events import (
    MAX_VALUE_CHARS,
    BadWebhook,
    EventKind,
    map_params,
    pickup_row,
    read_event,
)

AT = datetime(2026, 3, 2, 8, 30, 5, tzinfo=UTC)  # 10:30:05 in Kyiv
KYIV = ZoneInfo("Europe/Kyiv")
CALLDATE_REFUSED = (
    "parameter 'calldate' is not a date-time "
    "(YYYY-MM-DD HH:MM:SS, ISO 8601, DD.MM.YYYY HH:MM:SS or Unix seconds)"
)


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
        (EventKind.PICKUP, {"uniqueid": "u", "caller": "1", "calldate": "02.03.2026"}, CALLDATE_REFUSED),
        (EventKind.PICKUP, {"uniqueid": "u", "caller": "1", "calldate": "yesterday"}, CALLDATE_REFUSED),
        (EventKind.PICKUP, {"uniqueid": "u", "caller": "1", "calldate": "31.02.2026 10:00:00"}, CALLDATE_REFUSED),
        (EventKind.PICKUP, {"uniqueid": "u", "caller": "1", "calldate": "1772440205000"}, CALLDATE_REFUSED),
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


@pytest.mark.parametrize(
    ("calldate", "row_calldate", "utc"),
    [
        # the call log's own format, wall-clock time in ringostat.timezone
        ("2026-03-02 10:29:00", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        # ISO 8601 without an offset: wall-clock time too
        ("2026-03-02T10:29:00", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        ("2026-03-02T10:29:00.250", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        # ISO 8601 with an offset or Z: the instant it names, in the project's wall clock
        ("2026-03-02T10:29:00+02:00", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        ("2026-03-02T08:29:00Z", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        ("2026-03-02T09:29:00+01:00", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        # DD.MM.YYYY HH:MM:SS, with or without seconds
        ("02.03.2026 10:29:00", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        ("2.3.2026 10:29", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        # Unix seconds (an instant), as text or as a JSON number
        ("1772440140", "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        (1772440140, "2026-03-02 10:29:00", datetime(2026, 3, 2, 8, 29, tzinfo=UTC)),
        # summer time: +03:00 in Kyiv
        ("1751300400", "2025-06-30 19:20:00", datetime(2025, 6, 30, 16, 20, tzinfo=UTC)),
        # the repeated autumn hour: the first 03:30 is the wall time alone, the second keeps its
        # offset, so the call log's parser does not read it as the first
        ("2025-10-26T00:30:00Z", "2025-10-26 03:30:00", datetime(2025, 10, 26, 0, 30, tzinfo=UTC)),
        ("2025-10-26T01:30:00Z", "2025-10-26 03:30:00+02:00", datetime(2025, 10, 26, 1, 30, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_calldate_in_every_format_ringostat_offers(
    calldate: Any, row_calldate: str, utc: datetime
) -> None:
    # was 400 "not YYYY-MM-DD HH:MM:SS" for all but the first: Ringostat never resends
    event = _read(
        EventKind.PICKUP, {"uniqueid": "u", "caller": "380501112233", "calldate": calldate}
    )
    assert event.row["calldate"] == row_calldate
    assert parse_calldate(event.row["calldate"], KYIV) == utc  # the call log's parser agrees


def test_a_value_over_16_kib_is_cut_not_refused() -> None:
    # was 400 "longer than 16384 characters": one long landing URL lost the whole pickup
    landing = "https://shop.example/?q=" + "x" * (MAX_VALUE_CHARS + 500)
    event = _read(EventKind.PICKUP, {"uniqueid": "u", "caller": "380501112233", "landing": landing})
    assert len(event.row["landing"]) == MAX_VALUE_CHARS
    assert event.row["landing"] == landing[: MAX_VALUE_CHARS - 1] + "…"
    assert event.row["caller"] == "380501112233"
    fits = "y" * MAX_VALUE_CHARS
    assert _read(EventKind.PICKUP, {"uniqueid": "u", "caller": "1", "x": fits}).row["x"] == fits
