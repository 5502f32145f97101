"""Ringostat rows → Call / Unprocessable (SPEC 2, 3, 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.call import Call, Direction, Outcome, Unprocessable
from models.settings import Settings
from tasks.calls import DISPOSITIONS, canonical_disposition, parse_row, parse_rows, sip_login

SETTINGS = Settings(
    scenario={"company_numbers": ["+380441234567"]},
    employees=[{"zoho_user": "anna@example.com", "numbers": ["+380509998877", "201"]}],
)


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uniqueid": "ua-1",
        "calldate": "2026-01-18 10:00:00",
        "call_type": "in",
        "disposition": "ANSWERED",
        "caller": "+380501112233",
        "dst": "+380441234567",
        "connected_with": "201",
        "duration": "90",
        "billsec": "75",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def call(**overrides: Any) -> Call:
    result = parse_row(row(**overrides), SETTINGS)
    assert isinstance(result, Call), result
    return result


def rejected(**overrides: Any) -> Unprocessable:
    result = parse_row(row(**overrides), SETTINGS)
    assert isinstance(result, Unprocessable), result
    return result


def test_full_inbound_row() -> None:
    c = call(
        caller_number="380501112233",
        employee_number="+380509998877",
        employee_fio="Anna Ivanova",
        recording="https://rec.example/ua-1.mp3",
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="winter",
        utm_term="sofa",
        utm_content="ad1",
        client_id="GA1.2.345.678",
        landing="https://shop.example/sofas",
        refferrer="https://google.com/",
        call_card="https://app.ringostat.com/call/ua-1",
        department="Sales",
        pool_name="ignored extra",
    )
    assert c.uniqueid == "ua-1"
    assert c.direction is Direction.INBOUND and c.outcome is Outcome.ANSWERED
    assert c.call_type == "in" and c.disposition == "ANSWERED"
    assert c.started_at == datetime(2026, 1, 18, 8, 0, tzinfo=UTC)  # Kyiv winter: +02:00
    assert c.ended_at == c.started_at + timedelta(seconds=90)
    assert (c.duration, c.billsec) == (90, 75)
    assert c.client.e164 == "+380501112233"
    assert c.employee_ids == ("201", "+380509998877")
    assert c.employee_label == "201 / +380509998877"
    assert c.employee_name == "Anna Ivanova"
    assert c.recording_url == "https://rec.example/ua-1.mp3"
    assert c.utm.items() == [
        ("utm_source", "google"),
        ("utm_medium", "cpc"),
        ("utm_campaign", "winter"),
        ("utm_term", "sofa"),
        ("utm_content", "ad1"),
        ("client_id", "GA1.2.345.678"),
    ]
    assert c.landing == "https://shop.example/sofas"
    assert c.referrer == "https://google.com/"
    assert c.call_card == "https://app.ringostat.com/call/ua-1"
    assert c.department == "Sales"
    assert c.raw["pool_name"] == "ignored extra"


def test_numbers_and_ids_arrive_as_ints() -> None:
    c = call(uniqueid=123456, caller=380501112233, connected_with=201, duration=61, billsec=0.0)
    assert c.uniqueid == "123456"
    assert c.client.e164 == "+380501112233"
    assert c.employee_ids == ("201",)
    assert (c.duration, c.billsec) == (61, 0)


@pytest.mark.parametrize(
    ("call_type", "direction"),
    [
        ("in", Direction.INBOUND),
        ("IN", Direction.INBOUND),
        ("callback", Direction.INBOUND),
        ("out", Direction.OUTBOUND),
        (" Out ", Direction.OUTBOUND),
    ],
)
def test_every_client_call_type(call_type: str, direction: Direction) -> None:
    client_field = "caller" if direction is Direction.INBOUND else "dst"
    c = call(call_type=call_type, **{client_field: "+380501112233"})
    assert c.direction is direction
    assert c.client.e164 == "+380501112233"


@pytest.mark.parametrize(
    ("call_type", "status", "reason"),
    [
        ("transitin", "skipped", "transit_call"),
        ("transitout", "skipped", "transit_call"),
        ("TransitIn", "skipped", "transit_call"),
        ("internal", "quarantined", "unknown_call_type"),
        ("", "quarantined", "unknown_call_type"),
        (None, "quarantined", "unknown_call_type"),
        (..., "quarantined", "unknown_call_type"),  # field missing
    ],
)
def test_non_client_call_types(call_type: Any, status: str, reason: str) -> None:
    r = rejected(call_type=call_type)
    assert (r.status, r.reason, r.uniqueid) == (status, reason, "ua-1")
    assert r.started_at == datetime(2026, 1, 18, 8, 0, tzinfo=UTC)


def _variants(name: str) -> list[str]:
    out = {name, name.lower(), name.title(), name.replace(" ", "+"), name.replace(" ", "_")}
    out.add(name.lower().replace(" ", "_"))
    out.add(" " + name.replace(" ", "+") + " ")
    return sorted(out)


DISPOSITION_CASES = [
    (variant, name, outcome)
    for name, outcome in [
        ("ANSWERED", Outcome.ANSWERED),
        ("PROPER", Outcome.ANSWERED),
        ("REPEATED", Outcome.ANSWERED),
        ("VOICEMAIL", Outcome.VOICEMAIL),
        ("NO ANSWER", Outcome.MISSED),
        ("BUSY", Outcome.MISSED),
        ("FAILED", Outcome.MISSED),
        ("NO-FORWARD", Outcome.MISSED),
        ("WRONG EXTENSION", Outcome.MISSED),
        ("NO EXTENSION", Outcome.MISSED),
        ("CLIENT NO ANSWER", Outcome.MISSED),
        ("DECLINE", Outcome.MISSED),
        ("FAILED FORBIDDEN DESTINATION", Outcome.MISSED),
    ]
    for variant in _variants(name)
]


@pytest.mark.parametrize(("wire", "canonical", "outcome"), DISPOSITION_CASES)
def test_every_final_disposition_and_its_variants(
    wire: str, canonical: str, outcome: Outcome
) -> None:
    c = call(disposition=wire)
    assert (c.disposition, c.outcome) == (canonical, outcome)


def test_disposition_table_is_the_spec_table() -> None:
    finals = {name for name, outcome in DISPOSITIONS.items() if outcome is not None}
    assert finals == {name for _, name, _ in DISPOSITION_CASES}
    assert {n for n, o in DISPOSITIONS.items() if o is None} == {"IN PROGRESS", "CALLING"}


@pytest.mark.parametrize("wire", ["NO_FORWARD", "no+forward", "No Forward"])
def test_no_forward_spelled_with_spaces(wire: str) -> None:
    assert canonical_disposition(wire) == "NO-FORWARD"


@pytest.mark.parametrize("wire", [*_variants("IN PROGRESS"), *_variants("CALLING")])
def test_in_progress_calls_are_deferred(wire: str) -> None:
    r = rejected(disposition=wire)
    assert (r.status, r.reason) == ("deferred", "in_progress")


@pytest.mark.parametrize("wire", ["ANSWERED!", "HANGUP", "", None, ..., "NO  ANSWERED"])
def test_unknown_dispositions_are_quarantined(wire: Any) -> None:
    r = rejected(disposition=wire)
    assert (r.status, r.reason) == ("quarantined", "unknown_disposition")


@pytest.mark.parametrize("uniqueid", [None, "", "   ", ...])
def test_missing_call_id(uniqueid: Any) -> None:
    r = rejected(uniqueid=uniqueid, call_type="bogus", disposition="bogus")
    assert (r.uniqueid, r.status, r.reason) == (None, "quarantined", "missing_call_id")


@pytest.mark.parametrize(
    "calldate",
    [
        None,
        ...,
        "",
        "yesterday",
        "2026-02-30 10:00:00",
        "18.01.2026 10:00",
        "2026-01-18",
        "0",
        "9999-12-31 23:59:59",  # no representable call end
        "0001-01-01 00:00:00",  # before UTC can express it in Kyiv
    ],
)
def test_bad_calldate(calldate: Any) -> None:
    r = rejected(calldate=calldate)
    assert (r.status, r.reason, r.started_at) == ("quarantined", "bad_calldate", None)


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        # winter time, +02:00
        ("2026-01-18 10:00:00", datetime(2026, 1, 18, 8, 0, tzinfo=UTC)),
        # summer time, +03:00
        ("2025-07-01 10:00:00", datetime(2025, 7, 1, 7, 0, tzinfo=UTC)),
        # spring forward in Kyiv: 2025-03-30 03:00 → 04:00
        ("2025-03-30 02:59:59", datetime(2025, 3, 30, 0, 59, 59, tzinfo=UTC)),
        ("2025-03-30 03:30:00", datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),  # skipped: +02:00
        ("2025-03-30 04:00:00", datetime(2025, 3, 30, 1, 0, tzinfo=UTC)),
        # fall back: 2025-10-26 04:00 → 03:00, 03:00..03:59 happen twice; first one taken
        ("2025-10-26 02:59:59", datetime(2025, 10, 25, 23, 59, 59, tzinfo=UTC)),
        ("2025-10-26 03:30:00", datetime(2025, 10, 26, 0, 30, tzinfo=UTC)),
        ("2025-10-26 04:00:00", datetime(2025, 10, 26, 2, 0, tzinfo=UTC)),
        # a value with its own offset is kept as given
        ("2025-10-26T03:30:00+02:00", datetime(2025, 10, 26, 1, 30, tzinfo=UTC)),
        ("2026-01-18T08:00:00Z", datetime(2026, 1, 18, 8, 0, tzinfo=UTC)),
    ],
)
def test_calldate_in_ringostat_timezone_with_dst_edges(local: str, utc: datetime) -> None:
    c = call(calldate=local)
    assert c.started_at == utc
    assert c.started_at.utcoffset() == timedelta(0)


def test_call_end_across_the_dst_jump_keeps_real_duration() -> None:
    c = call(calldate="2025-03-30 02:59:00", duration=120)
    assert c.ended_at - c.started_at == timedelta(minutes=2)
    assert c.ended_at == datetime(2025, 3, 30, 1, 1, tzinfo=UTC)


def test_ringostat_timezone_is_configurable() -> None:
    settings = Settings(ringostat={"timezone": "UTC"})
    result = parse_row(row(), settings)
    assert isinstance(result, Call)
    assert result.started_at == datetime(2026, 1, 18, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "e164"),
    [
        ({"caller": "+380501112233", "caller_number": "+380671112233"}, "+380501112233"),
        ({"caller": '"Client" <sip_trunk>', "caller_number": "0671112233"}, "+380671112233"),
        ({"caller": "anonymous", "caller_number": 380671112233}, "+380671112233"),
        ({"caller": ..., "caller_number": "+380671112233"}, "+380671112233"),
    ],
)
def test_inbound_client_is_caller_then_caller_number(fields: dict[str, Any], e164: str) -> None:
    assert call(**fields).client.e164 == e164


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        # no caller id: skipped with its own reason (was quarantined as no_client_number)
        ({"caller": "anonymous"}, "skipped", "anonymous_caller"),
        ({"caller": "Anonymous", "caller_number": "hidden"}, "skipped", "anonymous_caller"),
        ({"caller": '"Anonymous" <sip:anonymous@anonymous.invalid>'}, "skipped", "anonymous_caller"),
        ({"caller": "", "caller_number": ""}, "skipped", "anonymous_caller"),
        ({"caller": ..., "caller_number": ...}, "skipped", "anonymous_caller"),
        ({"caller": "PRIVATE", "caller_number": "unknown"}, "skipped", "anonymous_caller"),
        # an employee's extension or SIP login on the client side: an internal call
        ({"caller": '"Anna" <anna_sip>'}, "skipped", "internal_call"),
        ({"caller": "anna_sip"}, "skipped", "internal_call"),
        ({"caller": "201"}, "skipped", "internal_call"),  # an [[employees]] extension
        ({"caller": "<sip:305@pbx.example>"}, "skipped", "internal_call"),  # an extension in SIP
        ({"caller": "anonymous", "caller_number": "201"}, "skipped", "internal_call"),
        ({"call_type": "out", "dst": '"Petro" <petro_sip>'}, "skipped", "internal_call"),
        ({"call_type": "out", "dst": "201"}, "skipped", "internal_call"),
        ({"call_type": "out", "dst": "sip:anna_sip@pbx", "disposition": "NO ANSWER"}, "skipped", "internal_call"),
        # what is left: no usable number, and no sign of an employee
        ({"call_type": "out", "dst": "1234"}, "quarantined", "no_client_number"),
        ({"caller": "12345"}, "quarantined", "no_client_number"),  # too few digits
        ({"caller": "<sip:380501112233@trunk>"}, "quarantined", "no_client_number"),
        ({"call_type": "out", "dst": ..., "caller": "+380501112233"}, "quarantined", "no_client_number"),
        ({"call_type": "out", "dst": "anonymous"}, "quarantined", "no_client_number"),
    ],
)  # fmt: skip
def test_calls_without_a_client_number(fields: dict[str, Any], status: str, reason: str) -> None:
    r = rejected(**fields)
    assert (r.status, r.reason) == (status, reason)
    assert r.started_at is not None and r.uniqueid == "ua-1"


def test_outbound_client_is_dst_and_caller_sip_is_an_employee_id() -> None:
    c = call(
        call_type="out",
        caller='"Anna Ivanova" <anna_sip>',
        dst="0501112233",
        connected_with=...,
        employee_number="201",
    )
    assert c.client.e164 == "+380501112233"
    assert c.employee_ids == ("201", "anna_sip")
    assert c.employee_label == "201 / anna_sip"


@pytest.mark.parametrize(
    ("caller", "ids"),
    [
        ('"Anna Ivanova" <anna_sip>', ("anna_sip",)),
        ("<sip:anna_sip@pbx.example.com>", ("anna_sip",)),
        ("sip:anna_sip@pbx", ("anna_sip",)),
        ("anna_sip", ("anna_sip",)),
        ("+380509998877", ("+380509998877",)),
        ("", ()),
    ],
)
def test_outbound_employee_from_caller(caller: str, ids: tuple[str, ...]) -> None:
    c = call(call_type="out", caller=caller, dst="+380501112233", connected_with=...)
    assert c.employee_ids == ids


@pytest.mark.parametrize(
    "connected_with",
    ["sip:anna_sip@pbx.example", '"Anna Ivanova" <anna_sip>', "<sip:anna_sip@pbx>", "anna_sip"],
)
def test_connected_with_sip_forms_give_the_login(connected_with: str) -> None:
    c = call(connected_with=connected_with, employee_number="201")
    assert c.employee_ids == ("anna_sip", "201")
    assert c.employee_label == "anna_sip / 201"


def test_employee_ids_in_lookup_order_without_duplicates() -> None:
    c = call(
        call_type="out",
        connected_with="201",
        employee_number="201",
        caller="<201>",
        dst="+380501112233",
    )
    assert c.employee_ids == ("201",)
    c = call(call_type="in", connected_with=..., employee_number="202", caller="+380501112233")
    assert c.employee_ids == ("202",)  # inbound: caller is the client, never an employee id


@pytest.mark.parametrize(
    ("caller", "dst", "call_type"),
    [
        ("+380441234567", "+380501112233", "in"),  # company number calls in
        ("044 123 45 67", "+380501112233", "in"),  # in another format
        ('"Anna" <anna_sip>', "+380509998877", "out"),  # an employee's own mobile
    ],
)
def test_own_numbers_are_skipped(caller: str, dst: str, call_type: str) -> None:
    r = rejected(caller=caller, dst=dst, call_type=call_type)
    assert (r.status, r.reason) == ("skipped", "own_number")
    assert "***" in r.detail and "4567" not in r.detail.replace("***4567", "")


@pytest.mark.parametrize(
    ("caller", "call_type", "dst"),
    [
        ("+48441234567", "in", "+380441234567"),  # shares 9 digits with the company line
        ("+48509998877", "in", "+380441234567"),  # ... with an employee's number
        ('"Anna" <anna_sip>', "out", "+48509998877"),
    ],
)
def test_own_numbers_use_the_country_guard(caller: str, call_type: str, dst: str) -> None:
    # SPEC 3: a Polish number sharing nine digits with a Ukrainian own number is a client
    args = {"caller": caller, "call_type": call_type, "dst": dst, "disposition": "NO ANSWER"}
    c = call(**args)
    assert c.client.country_code == 48
    loose = Settings(
        scenario={"company_numbers": ["+380441234567"], "strict_country_match": False},
        employees=[{"zoho_user": "anna@example.com", "numbers": ["+380509998877"]}],
    )
    r = parse_row(row(**args), loose)  # without the guard: Ringostat's nine digits decide
    assert isinstance(r, Unprocessable) and r.reason == "own_number"


def test_own_number_in_the_default_region_without_country_code_is_still_own() -> None:
    for caller in ("0441234567", "441234567", "380441234567", "+380 44 123 45 67"):
        r = rejected(caller=caller)
        assert r.reason == "own_number", caller


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("61", 61), (61, 61), ("61.9", 61), (-5, 0), ("", 0), ("x", 0), (None, 0), (1e30, 86400)],
)
def test_durations(value: Any, seconds: int) -> None:
    c = call(duration=value, billsec=value)
    assert (c.duration, c.billsec) == (seconds, seconds)
    assert c.ended_at == c.started_at + timedelta(seconds=seconds)


def test_recording_falls_back_to_wav() -> None:
    assert call(recording="", recording_wav="https://r/x.wav").recording_url == "https://r/x.wav"
    assert call(recording="https://r/x.mp3", recording_wav="w").recording_url == "https://r/x.mp3"
    assert call().recording_url is None


def test_parse_rows_splits_and_keeps_order() -> None:
    rows = [
        row(uniqueid="a"),
        row(uniqueid="b", call_type="transitin"),
        row(uniqueid="c", disposition="BUSY"),
        row(uniqueid="d", disposition="CALLING"),
    ]
    calls, bad = parse_rows(rows, SETTINGS)
    assert [c.uniqueid for c in calls] == ["a", "c"]
    assert [(u.uniqueid, u.reason) for u in bad] == [("b", "transit_call"), ("d", "in_progress")]


def test_every_parse_reason_code_is_reachable() -> None:
    rows = [
        row(uniqueid=...),
        row(calldate="bad"),
        row(call_type="x"),
        row(call_type="transitout"),
        row(disposition="x"),
        row(disposition="IN_PROGRESS"),
        row(caller="anonymous"),
        row(caller="anna_sip"),
        row(caller="12"),
        row(caller="+380441234567"),
    ]
    _, bad = parse_rows(rows, SETTINGS)
    assert [u.reason for u in bad] == [
        "missing_call_id",
        "bad_calldate",
        "unknown_call_type",
        "transit_call",
        "unknown_disposition",
        "in_progress",
        "anonymous_caller",
        "internal_call",
        "no_client_number",
        "own_number",
    ]


@pytest.mark.parametrize(
    ("value", "login"),
    [
        ('"Anna Ivanova" <anna_sip>', "anna_sip"),
        ("<sips:bob@pbx>", "bob"),
        ("sip:carl", "carl"),
        ("sip:anna_sip@pbx.example", "anna_sip"),
        ("anna_sip@pbx.example", "anna_sip"),
        ("anna_sip", None),
        ("+380501112233", None),
        (None, None),
    ],
)
def test_sip_login(value: str | None, login: str | None) -> None:
    assert sip_login(value) == login
