"""The demo generator: deterministic, consistent, and with the mix of calls the product must face."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from emulators.demo_data import DEFAULT_START, DemoDataset, generate_demo, start_before

STRICT_CALLDATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
MISSED = {
    "NO ANSWER", "BUSY", "FAILED", "NO-FORWARD", "WRONG EXTENSION", "NO EXTENSION",
    "CLIENT NO ANSWER", "DECLINE", "FAILED FORBIDDEN DESTINATION",
}  # fmt: skip
ANSWERED = {"ANSWERED", "PROPER", "REPEATED"}


@pytest.fixture(scope="module")
def demo() -> DemoDataset:
    return generate_demo()


def disposition(row: dict[str, Any]) -> str:
    return str(row["disposition"]).replace("+", " ").replace("_", " ").upper()


def digits(value: object) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def client_calls(demo: DemoDataset) -> list[dict[str, Any]]:
    """Well-formed inbound client calls (not transit, not malformed, not from own numbers)."""
    own = {n[-9:] for n in demo.company_numbers}
    own |= {n[-9:] for u in demo.zoho_seed["users"] for n in (u["phone"], u["mobile"])}
    return [
        r
        for r in demo.final_calls
        if r["call_type"] in ("in", "callback")
        and r.get("uniqueid")
        and STRICT_CALLDATE.match(r["calldate"])
        and len(digits(r["caller"])) >= 9
        and digits(r["caller"])[-9:] not in own
        and (disposition(r) in MISSED | ANSWERED | {"VOICEMAIL"})
    ]


def test_the_same_seed_gives_the_same_dataset_and_another_seed_another() -> None:
    first, again = (
        generate_demo(seed=11, days=2, calls_per_day=60),
        generate_demo(seed=11, days=2, calls_per_day=60),
    )
    assert first == again
    other = generate_demo(seed=12, days=2, calls_per_day=60)
    assert other.final_calls != first.final_calls
    assert other.zoho_seed != first.zoho_seed


def test_the_default_start_is_a_fixed_date(demo: DemoDataset) -> None:
    assert demo.start == DEFAULT_START == date(2025, 3, 28)
    assert demo.final_calls[0]["calldate"].startswith("2025-03-28")
    later = generate_demo(days=1, calls_per_day=20, start=date(2026, 1, 5))
    assert all(r["calldate"].startswith("2026-01-0") for r in later.final_calls
               if STRICT_CALLDATE.match(r["calldate"]))  # fmt: skip


def test_sizes_and_phase_times(demo: DemoDataset) -> None:
    assert len(demo.final_calls) == 3 * 400
    assert len(demo.phases) == len(demo.phase_times) == 4
    assert all(t.tzinfo is not None for t in demo.phase_times)
    assert demo.phase_times == sorted(demo.phase_times)
    assert all(demo.phases)


def test_replaying_the_phases_gives_the_final_calls(demo: DemoDataset) -> None:
    log: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for phase in demo.phases:
        for row in phase:
            if row.get("uniqueid"):
                log[row["uniqueid"]] = row
            else:
                anonymous.append(row)
    final_ids = [r["uniqueid"] for r in demo.final_calls if r.get("uniqueid")]
    assert len(final_ids) == len(set(final_ids))
    assert log == {r["uniqueid"]: r for r in demo.final_calls if r.get("uniqueid")}
    assert sorted(map(repr, anonymous)) == sorted(
        repr(r) for r in demo.final_calls if not r.get("uniqueid")
    )


def test_no_call_is_left_in_progress_at_the_end(demo: DemoDataset) -> None:
    assert not [r for r in demo.final_calls if disposition(r) in ("IN PROGRESS", "CALLING")]
    assert not [r for r in demo.phases[-1] if disposition(r) in ("IN PROGRESS", "CALLING")]


def test_calls_in_progress_become_final_in_a_later_phase(demo: DemoDataset) -> None:
    final = {r["uniqueid"]: r for r in demo.final_calls if r.get("uniqueid")}
    for index, phase in enumerate(demo.phases[:-1]):
        pending = [r for r in phase if disposition(r) in ("IN PROGRESS", "CALLING")]
        assert {disposition(r) for r in pending} == {"IN PROGRESS", "CALLING"}, index
        later_ids = {r.get("uniqueid") for p in demo.phases[index + 1 :] for r in p}
        for row in pending:
            assert row["uniqueid"] in later_ids
            done = final[row["uniqueid"]]
            assert disposition(done) not in ("IN PROGRESS", "CALLING")
            assert done["calldate"] == row["calldate"]
            assert row["billsec"] == 0 and row["recording"] == ""


def test_some_recordings_arrive_in_a_later_phase(demo: DemoDataset) -> None:
    late = []
    for index, phase in enumerate(demo.phases[:-1]):
        for row in phase:
            if disposition(row) in ANSWERED and row["has_recording"] == 0:
                updates = [r for p in demo.phases[index + 1 :] for r in p
                           if r.get("uniqueid") == row["uniqueid"]]  # fmt: skip
                assert updates and updates[-1]["recording"].endswith(".mp3")
                assert {k: v for k, v in updates[-1].items() if not k.startswith(("rec", "has_"))} \
                    == {k: v for k, v in row.items() if not k.startswith(("rec", "has_"))}  # fmt: skip
                late.append(row)
    assert len(late) >= 3


def test_the_call_mix(demo: DemoDataset) -> None:
    calls = demo.final_calls
    types = Counter(r["call_type"] for r in calls)
    assert 0.12 < types["out"] / len(calls) < 0.25
    assert types["callback"] >= 0.02 * len(calls)
    assert types["transitin"] + types["transitout"] >= 2

    clients = client_calls(demo)
    outcomes = Counter(
        "missed" if disposition(r) in MISSED else
        "voicemail" if disposition(r) == "VOICEMAIL" else "answered"
        for r in clients
    )  # fmt: skip
    assert 0.14 < outcomes["missed"] / len(clients) < 0.27
    assert 0.02 < outcomes["voicemail"] / len(clients) < 0.09
    missed_kinds = {disposition(r) for r in clients if disposition(r) in MISSED}
    assert len(missed_kinds) >= 5
    assert any("+" in r["disposition"] for r in calls)
    assert any("_" in r["disposition"] for r in calls)
    assert {"PROPER", "REPEATED", "ANSWERED"} <= {r["disposition"] for r in calls}


def test_utm_attribution_mix(demo: DemoDataset) -> None:
    inbound = [r for r in client_calls(demo) if r["call_type"] == "in"]
    pairs = Counter((r["utm_source"], r["utm_medium"]) for r in inbound)
    for pair in [("google", "cpc"), ("facebook", "paid"), ("google", "organic"),
                 ("(direct)", "(none)")]:  # fmt: skip
        assert pairs[pair] > 0, pair
    assert any(source == "instagram" for source, _ in pairs)
    assert 0.1 < pairs[("", "")] / len(inbound) < 0.35
    assert len({r["utm_campaign"] for r in inbound if r["utm_campaign"]}) >= 4
    assert all(r["utm_source"] == "" for r in demo.final_calls if r["call_type"] == "out")
    assert all(r["client_id"].startswith("GA1.2.") for r in inbound if r["utm_source"])


def test_answered_calls_have_recordings_cards_and_consistent_times(demo: DemoDataset) -> None:
    for row in demo.final_calls:
        assert row["duration"] == row["waittime"] + row["billsec"]
        assert row["duration_ms"] // 1000 == row["duration"]
        if disposition(row) in MISSED:
            assert row["billsec"] == 0 and row["recording"] == "" and row["has_recording"] == 0
        if disposition(row) in ANSWERED | {"VOICEMAIL"}:
            assert row["billsec"] > 0
            assert re.match(r"^https://app\.ringostat\.com/recordings/\S+\.mp3$", row["recording"])
            assert row["has_recording"] == 1
        if row.get("uniqueid"):
            assert row["call_card"].startswith("https://app.ringostat.com/")


def test_repeat_callers_and_outbound_targets(demo: DemoDataset) -> None:
    callers = Counter(digits(r["caller"])[-9:] for r in client_calls(demo))
    assert sum(1 for n in callers.values() if n >= 3) >= 5
    crm = crm_keys(demo)
    outbound = [digits(r["dst"])[-9:] for r in demo.final_calls if r["call_type"] == "out"]
    assert sum(k in crm for k in outbound) > 0.3 * len(outbound)
    assert sum(k not in crm for k in outbound) > 0.1 * len(outbound)
    sip_callers = [r["caller"] for r in demo.final_calls if r["call_type"] == "out"]
    assert sum(bool(re.match(r'^".*" <\w+>$', c)) for c in sip_callers) > 0.5 * len(sip_callers)


def crm_keys(demo: DemoDataset) -> set[str]:
    fields = ("Phone", "Mobile", "Home_Phone", "Other_Phone")
    return {
        digits(record[f])[-9:]
        for module in ("Leads", "Contacts")
        for record in demo.zoho_seed[module]
        for f in fields
        if record.get(f)
    }


def test_employees_unmapped_sips_own_numbers_and_the_foreign_look_alike(
    demo: DemoDataset,
) -> None:
    answered_by = Counter(r["connected_with"] for r in demo.final_calls if r["connected_with"])
    assert demo.unmapped_sips and all(answered_by[s] > 0 for s in demo.unmapped_sips)
    mapped = {s for e in demo.employees for s in e["sip"]}
    assert not mapped & set(demo.unmapped_sips)
    own = {n[-9:] for n in demo.company_numbers} | {
        n[-9:] for e in demo.employees for n in e["numbers"]
    }
    inbound_from_own = [r for r in demo.final_calls
                        if r["call_type"] in ("in", "callback") and digits(r["caller"])[-9:] in own]  # fmt: skip
    assert inbound_from_own
    foreign = [r for r in demo.final_calls if str(r["caller"]).startswith("48")]
    assert foreign and digits(foreign[0]["caller"])[-9:] in crm_keys(demo)


def test_malformed_rows_of_every_kind(demo: DemoDataset) -> None:
    rows = demo.final_calls
    assert any("uniqueid" not in r for r in rows)
    assert any(r.get("uniqueid") == "" for r in rows)
    assert any(not STRICT_CALLDATE.match(r["calldate"]) for r in rows)
    known = MISSED | ANSWERED | {"VOICEMAIL"}
    assert any(disposition(r) not in known for r in rows)
    inbound_callers = {r["caller"] for r in rows if r["call_type"] in ("in", "callback")}
    assert {"anonymous", ""} <= inbound_callers
    assert any(c.startswith('"') and c.endswith(">") for c in inbound_callers)
    assert any(0 < len(digits(c)) < 9 for c in inbound_callers)
    assert 7 <= sum(not r.get("uniqueid") or not STRICT_CALLDATE.match(r["calldate"])
                    or disposition(r) not in known | {"IN PROGRESS"}
                    or r["caller"] in ("anonymous", "") for r in rows) < 0.03 * len(rows)  # fmt: skip


def test_zoho_seed_users_and_roles(demo: DemoDataset) -> None:
    users = demo.zoho_seed["users"]
    assert 7 <= len(users) <= 11
    ceo = [u for u in users if u["role"]["name"] == "CEO"]
    assert [u["email"] for u in ceo] == [demo.top_manager]
    for user in users:
        assert {"id", "email", "full_name", "first_name", "last_name", "phone", "mobile",
                "status", "role", "profile", "time_zone"} <= set(user)  # fmt: skip
        assert user["status"] == "active"
        assert re.search(r"[a-z0-9]{9}@[a-z0-9]{5}\.com", user["email"])  # Zoho's OAS pattern
        assert E164.match(user["phone"]) and E164.match(user["mobile"])
        assert {"name", "id"} <= set(user["role"]) and {"name", "id"} <= set(user["profile"])
    roles = {r["id"]: r for r in demo.zoho_seed["roles"]}
    assert all(u["role"]["id"] in roles for u in users)
    assert [r["name"] for r in roles.values() if r["reporting_to"] is None] == ["CEO"]
    emails = {u["email"] for u in users}
    assert {e["zoho_user"] for e in demo.employees} <= emails - {demo.top_manager}
    assert len(demo.employees) == len(users) - 1
    for entry in demo.employees:
        assert entry["sip"] and entry["ringostat_ids"]
        assert all(E164.match(n) for n in entry["numbers"])
    assert all(E164.match(n) for n in demo.company_numbers)


def test_zoho_seed_records(demo: DemoDataset) -> None:
    seed = demo.zoho_seed
    user_ids = {u["id"] for u in seed["users"]}
    contact_ids = {c["id"] for c in seed["Contacts"]}
    ids = [r["id"] for m in ("Leads", "Contacts", "Deals") for r in seed[m]] + list(user_ids)
    assert len(ids) == len(set(ids))
    assert all(re.match(r"^\d{19}$", i) for i in ids)
    start = datetime.combine(demo.start, datetime.min.time(), tzinfo=demo.phase_times[0].tzinfo)
    for module in ("Leads", "Contacts", "Deals"):
        for record in seed[module]:
            assert record["Owner"]["id"] in user_ids
            modified = datetime.fromisoformat(record["Modified_Time"])
            assert modified.tzinfo is not None and modified < start
            assert datetime.fromisoformat(record["Created_Time"]) <= modified
    stages = Counter(d["Stage"] for d in seed["Deals"])
    assert stages["Closed Won"] and stages["Closed Lost"]
    assert sum(n for s, n in stages.items() if not s.startswith("Closed")) > 0
    assert all(d["Contact_Name"]["id"] in contact_ids for d in seed["Deals"])
    converted = [lead for lead in seed["Leads"] if lead["Converted__s"]]
    assert converted and all(lead["Converted_Contact"]["id"] in contact_ids for lead in converted)
    assert any(not lead["Converted__s"] for lead in seed["Leads"])
    phones = [r[f] for m in ("Leads", "Contacts") for r in seed[m]
              for f in ("Phone", "Mobile", "Home_Phone", "Other_Phone") if r.get(f)]  # fmt: skip
    shapes = {
        r"^\+380 \(\d{2}\) \d{3}-\d{2}-\d{2}$",  # +380 (50) 123-45-67
        r"^0\d{2} \d{3} \d{4}$",  # 050 123 4567
        r"^380\d{9}$",  # 380501234567
        r"^0\d{9}$",  # 0501234567
    }
    for shape in shapes:
        assert any(re.match(shape, p) for p in phones), shape


def test_small_and_bad_arguments() -> None:
    tiny = generate_demo(seed=3, days=1, calls_per_day=10)
    assert len(tiny.final_calls) == 10 and len(tiny.phases) == 2
    with pytest.raises(ValueError):
        generate_demo(days=0)
    with pytest.raises(ValueError):
        generate_demo(calls_per_day=5)


def test_config_overrides_name_the_dataset_people(demo: DemoDataset) -> None:
    config = demo.config_overrides()
    assert config["scenario"]["top_manager"] == demo.top_manager
    assert config["scenario"]["company_numbers"] == demo.company_numbers
    assert config["employees"] == demo.employees
    assert config["ringostat"]["timezone"] == "Europe/Kyiv"


def test_every_update_falls_inside_the_default_lookback_of_the_next_read(
    demo: DemoDataset,
) -> None:
    """A sync at each phase time, re-reading 120 minutes before its cursor, sees every update."""
    seen: set[str] = set()
    updates = 0
    for index, phase in enumerate(demo.phases):
        for row in phase:
            uid = row.get("uniqueid")
            if uid and uid in seen:
                updates += 1
                previous_read = demo.phase_times[index - 1]
                called = datetime.strptime(row["calldate"], "%Y-%m-%d %H:%M:%S").replace(
                    tzinfo=previous_read.tzinfo
                )
                assert called >= previous_read - timedelta(minutes=120), (index, row)
                assert called <= previous_read
            if uid:
                seen.add(uid)
    assert updates >= 3 * (len(demo.phases) - 1)


@pytest.mark.parametrize(
    ("now", "first_day"),
    [
        (datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Europe/Kyiv")), date(2026, 2, 27)),
        (datetime(2026, 3, 2, 8, 59, tzinfo=ZoneInfo("Europe/Kyiv")), date(2026, 2, 26)),
        (datetime(2026, 3, 2, 7, 0, tzinfo=UTC), date(2026, 2, 27)),  # 09:00 in Kyiv
    ],
)
def test_data_relative_to_now_is_all_over_by_now(now: datetime, first_day: date) -> None:
    start = start_before(now, 3, "Europe/Kyiv")
    assert start == first_day
    dataset = generate_demo(seed=3, days=3, calls_per_day=20, start=start)
    assert dataset.phase_times[-1] <= now  # the dataset's last moment: nothing in the future
    assert dataset.phase_times[-1] > now - timedelta(days=1)  # and its newest calls are recent
    zone = ZoneInfo("Europe/Kyiv")
    for row in dataset.final_calls:
        if STRICT_CALLDATE.match(str(row.get("calldate", ""))):
            assert datetime.fromisoformat(row["calldate"]).replace(tzinfo=zone) <= now
