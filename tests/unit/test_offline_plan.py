"""The offline dry run: example files in tests/data/plan reproduce their reviewed plan exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.settings import Settings, load_settings
from tasks.offline_plan import InputError, plan_files
from tasks.scenario import TopManagerError

DATA = Path(__file__).resolve().parents[1] / "data" / "plan"
FIDELITY = Path(__file__).resolve().parents[1] / "data" / "plan-fidelity"


@pytest.fixture
def example_settings() -> Settings:
    return load_settings(DATA / "config.toml")


def test_plan_files_reproduces_the_reviewed_plan(example_settings: Settings) -> None:
    got = plan_files(DATA / "calls.json", DATA / "crm.json", example_settings)
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    # JSON round trip: the output is JSON-ready as it is
    assert json.loads(json.dumps(got)) == expected
    # one object per input row, in input order
    rows = json.loads((DATA / "calls.json").read_text(encoding="utf-8"))
    assert [o["uniqueid"] for o in got] == [r["uniqueid"] for r in rows]


def test_the_example_covers_the_matrix_and_the_reasons(example_settings: Settings) -> None:
    got = plan_files(DATA / "calls.json", DATA / "crm.json", example_settings)
    assert {o["row"] for o in got} - {None} == {1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13}
    assert {o["reason"] for o in got} - {None} == {
        "outbound_no_entity",
        "outbound_not_answered",
        "transit_call",
        "anonymous_caller",
        "internal_call",
        "no_client_number",
        "in_progress",
        "own_number",
    }
    leads = [w for o in got for w in o["writes"] if w["kind"] == "lead"]
    assert len(leads) == len({w["fields"]["Phone"] for w in leads})


def test_now_defaults_to_the_latest_call_end(tmp_path: Path) -> None:
    calls = tmp_path / "calls.json"
    calls.write_text(
        json.dumps(
            [
                {
                    "uniqueid": "a",
                    "calldate": "2026-01-18 10:00:00",
                    "call_type": "in",
                    "disposition": "ANSWERED",
                    "caller": "+380501112233",
                    "duration": 60,
                },
                {
                    "uniqueid": "b",
                    "calldate": "2026-01-18 10:40:00",
                    "call_type": "in",
                    "disposition": "ANSWERED",
                    "caller": "+380631119999",
                    "duration": 60,
                },
            ]
        ),
        encoding="utf-8",
    )
    settings = load_settings(DATA / "config.toml", overrides={"scenario": {"mode": "enrich_leads"}})
    # now = 10:41 Kyiv: "a" ended 40 min ago (fallback create), "b" just ended (waiting)
    got = plan_files(calls, DATA / "crm.json", settings)
    assert [(o["uniqueid"], o["status"], o["reason"]) for o in got] == [
        ("a", "planned", None),
        ("b", "deferred", "enrich_waiting"),
    ]
    # an explicit now changes that
    later = plan_files(
        calls, DATA / "crm.json", settings, now=datetime(2026, 1, 18, 12, tzinfo=UTC)
    )
    assert [o["status"] for o in later] == ["planned", "planned"]


def test_empty_calls_file_plans_nothing(tmp_path: Path, example_settings: Settings) -> None:
    calls = tmp_path / "calls.json"
    calls.write_text("[]", encoding="utf-8")
    assert plan_files(calls, DATA / "crm.json", example_settings) == []


def test_top_manager_missing_from_the_snapshot(tmp_path: Path, example_settings: Settings) -> None:
    crm = tmp_path / "crm.json"
    crm.write_text('{"users": []}', encoding="utf-8")
    with pytest.raises(TopManagerError):
        plan_files(DATA / "calls.json", crm, example_settings)


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        ("calls", None, "file not found"),
        ("calls", "[{", "not valid JSON (line 1, column 3"),
        ("calls", '{"uniqueid": "x"}', "expected a JSON array of Ringostat call rows"),
        ("calls", '[{"uniqueid": "x"}, 5]', "item 1 is not a JSON object"),
        ("crm", None, "file not found"),
        ("crm", "[]", "expected a JSON object with keys users, Leads, Contacts, Deals"),
        ("crm", '{"Tasks": []}', "unknown key(s) Tasks"),
        ("crm", '{"Leads": {}}', "'Leads' must be a JSON array of objects"),
        ("crm", '{"Leads": [{"id": "L"}]}', "Leads[0]: Leads record L without an Owner"),
        ("crm", '{"users": [{"email": "x"}]}', "users[0]: Zoho user without an id"),
        ("crm", b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_malformed_files_raise_one_line_input_errors(
    tmp_path: Path,
    example_settings: Settings,
    which: str,
    content: str | bytes | None,
    message: str,
) -> None:
    bad = tmp_path / f"{which}.json"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content, encoding="utf-8")
    calls = bad if which == "calls" else DATA / "calls.json"
    crm = bad if which == "crm" else DATA / "crm.json"
    with pytest.raises(InputError) as info:
        plan_files(calls, crm, example_settings)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{bad}: ")
    assert message in text


def test_fidelity_cases_give_the_spec_answers() -> None:
    """Hand-typed phones, SIP forms, own numbers across countries, field map (SPEC 3, 4, 7)."""
    settings = load_settings(FIDELITY / "config.toml")
    problems: list[str] = []
    got = plan_files(FIDELITY / "calls.json", FIDELITY / "crm.json", settings, problems=problems)
    expected = json.loads((FIDELITY / "expected.json").read_text(encoding="utf-8"))
    assert json.loads(json.dumps(got)) == expected

    by_id = {o["uniqueid"]: o for o in got}

    def summary(uid: str) -> tuple[Any, ...]:
        o = by_id[uid]
        attached = (o.get("attached_to") or {}).get("id")
        owners = [w["fields"]["Owner"]["id"] for w in o["writes"]]
        return o["row"], o["reason"], attached, owners

    anna, petro, top = "9002", "9003", "9001"
    # SPEC 3: every number typed into a phone field is a key of its record
    assert summary("f01") == (4, None, "C-1", [anna, petro])  # "067 111 22 99, 050 111 22 98"
    assert summary("f02") == (3, None, "C-1", [petro])
    assert summary("f03") == (3, None, "L-1", [petro])  # "+380 67 111 22 77 (viber)"
    assert summary("f04") == (7, None, "C-2", [top])  # "tel. 050-111-22-33 ext 5"
    # SPEC 4: SIP forms in connected_with and caller map the employee
    assert summary("f05") == (4, None, "L-2", [anna, petro])  # sip:anna_sip@pbx.example
    assert summary("f06") == (4, None, "L-2", [anna, petro])  # "Anna Ivanova" <anna_sip>
    assert summary("f10") == (11, None, "C-1", [anna])  # outbound, caller "Anna" <anna_sip>
    # SPEC 3: a Polish caller sharing nine digits with the company line is a client
    assert summary("f07") == (6, None, None, [top, top])
    assert summary("f08") == (None, "own_number", None, [])
    # SPEC 4: an entry naming no Zoho user is reported; its SIP is unmapped (row 2, TOP)
    assert summary("f09") == (2, None, None, [top, top])
    assert problems == [
        "employee entry 'ghost@example.com' names no Zoho user (by id or email): "
        "its calls are handled as unmapped"
    ]
    # SPEC 7: the field map; empty values (f07's refferrer) are left out
    lead07, task07 = by_id["f07"]["writes"]
    assert lead07["fields"]["rs_landing_page"] == "https://shop.example/pl"
    assert "rs_referrer" not in lead07["fields"]
    assert task07["fields"]["rs_tracking_line"] == "+380441234567"
    lead09 = by_id["f09"]["writes"][0]["fields"]
    assert (lead09["rs_landing_page"], lead09["rs_referrer"]) == (
        "https://shop.example/sofas",
        "https://www.google.com/",
    )
