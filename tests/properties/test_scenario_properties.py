"""Properties of the scenario planner over random runs (SPEC 5–8).

A run is a random batch of Ringostat rows from a small pool of numbers (so numbers repeat, and
two of them share their last nine digits across countries), a random CRM snapshot over the same
pool, and random scenario settings.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.call import Call
from models.crm import CrmRecord, CrmSnapshot, ZohoUser
from models.plan import CallPlan
from models.settings import Settings
from tasks.calls import parse_rows
from tasks.crm_records import record_from_zoho
from tasks.employees import EmployeeMap
from tasks.phones import normalize
from tasks.scenario import plan_calls

USERS = (
    ZohoUser("u-top", "boss@example.com", "Boss"),
    ZohoUser("u-anna", "anna@example.com", "Anna", phone="+380509998877"),
    ZohoUser("u-petro", "petro@example.com", "Petro"),
    ZohoUser("u-gone", "gone@example.com", "Gone", active=False),
)
ACTIVE = frozenset(u.id for u in USERS if u.active)
POOL = [
    "+380501112233",
    "0501112233",  # the same client as above
    "+380671112233",
    "+48671112233",  # same last nine digits as above, another country
    "+380931112233",
    "+380441234567",  # the company's own number
    "+380509998877",  # Anna's own phone (auto-mapped)
    "anonymous",
]
BASE = datetime(2026, 1, 18, 8, 0, tzinfo=UTC)

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 90),
            "call_type": st.sampled_from(["in", "callback", "out"]),
            "disposition": st.sampled_from(
                ["ANSWERED", "PROPER", "NO ANSWER", "BUSY", "VOICEMAIL", "no_answer"]
            ),
            "client": st.sampled_from(POOL),
            "employee": st.sampled_from([None, "anna_sip", "petro_sip", "ghost_sip", "0509998877"]),
            "duration": st.integers(0, 900),
            "recording": st.booleans(),
            "utm": st.sampled_from([None, "google", "fb"]),
        }
    ),
    max_size=12,
)
records_strategy = st.lists(
    st.tuples(
        st.sampled_from(["Leads", "Contacts", "Deals"]),
        st.sampled_from(POOL[:5]),
        st.sampled_from(["u-top", "u-anna", "u-petro", "u-gone"]),
        st.integers(0, 30),
        st.booleans(),
    ),
    max_size=6,
)
config_strategy = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["default", "enrich_leads", "enrich_contacts_deals"]),
        "strict_country_match": st.booleans(),
        "log_calls": st.booleans(),
        "enrich_fallback": st.sampled_from(["create", "skip"]),
        "utm_policy": st.sampled_from(["first_touch", "last_touch"]),
    }
)


def make_settings(config: dict[str, Any]) -> Settings:
    return Settings(
        scenario={
            "top_manager": "boss@example.com",
            "company_numbers": ["+380441234567"],
            **config,
        },
        employees=[
            {"zoho_user": "anna@example.com", "sip": ["anna_sip"]},
            {"zoho_user": "petro@example.com", "sip": ["petro_sip"]},
        ],
    )


def make_rows(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, spec in enumerate(specs):
        when = (BASE + timedelta(hours=2, minutes=spec["minute"])).strftime("%Y-%m-%d %H:%M:%S")
        row: dict[str, Any] = {
            "uniqueid": f"ua-{i:03d}",
            "calldate": when,
            "call_type": spec["call_type"],
            "disposition": spec["disposition"],
            "duration": spec["duration"],
            "billsec": spec["duration"] // 2,
            "utm_source": spec["utm"],
        }
        if spec["call_type"] == "out":
            row["dst"] = spec["client"]
            row["caller"] = f'"x" <{spec["employee"]}>' if spec["employee"] else ""
        else:
            row["caller"] = spec["client"]
            row["connected_with"] = spec["employee"]
        if spec["recording"]:
            row["recording"] = f"https://rec.example/{i}.mp3"
        rows.append(row)
    return rows


def make_records(specs: list[tuple[str, str, str, int, bool]], cfg: Settings) -> list[CrmRecord]:
    out = []
    for i, (module, phone, owner, day, flag) in enumerate(specs):
        data: dict[str, Any] = {
            "id": f"{module[0]}-{i}",
            "Owner": {"id": owner},
            "Modified_Time": f"2026-01-{day % 28 + 1:02d}T10:00:00+02:00",
            "Phone": phone,
        }
        if module == "Leads":
            data["Converted__s"] = flag
        if module == "Deals":
            data["Contact_Name"] = {"id": f"C-{max(i - 1, 0)}"}
            data["Stage"] = "Closed Won" if flag else "Qualification"
        out.append(record_from_zoho(module, data, cfg.scenario))
    return out


def run(
    calls: list[Call], records: list[CrmRecord], cfg: Settings, now: datetime
) -> list[CallPlan]:
    crm = CrmSnapshot.build(USERS, records)
    employees = EmployeeMap.build(cfg.employees, USERS, cfg.scenario)
    return plan_calls(calls, crm, employees, cfg, now=now)


@settings(max_examples=120, deadline=None)
@given(
    specs=rows_strategy,
    record_specs=records_strategy,
    config=config_strategy,
    now_minutes=st.integers(0, 240),
)
def test_planner_invariants(
    specs: list[dict[str, Any]],
    record_specs: list[tuple[str, str, str, int, bool]],
    config: dict[str, Any],
    now_minutes: int,
) -> None:
    cfg = make_settings(config)
    calls, _ = parse_rows(make_rows(specs), cfg)
    records = make_records(record_specs, cfg)
    now = BASE + timedelta(hours=2, minutes=now_minutes)
    plans = run(calls, records, cfg, now)

    assert sorted(p.uniqueid for p in plans) == sorted(c.uniqueid for c in calls)
    writes = [w for p in plans for w in p.writes]

    # every planned write has an owner and its own sync key; what is created is owned by an
    # active user (an update sends Owner only to hand a record of an inactive user to TOP)
    for w in writes:
        assert w.owner_id
        assert w.sync_key.startswith("ua-")
        if w.op == "insert":
            assert w.owner_id in ACTIVE
            assert w.fields["rs_sync_key"] == w.sync_key
            assert w.fields["Owner"] == {"id": w.owner_id}
        elif w.kind == "owner":
            assert w.fields == {"Owner": {"id": "u-top"}} and w.record_id is not None
            owner = next(r.owner_id for r in records if r.id == w.record_id)
            assert owner not in ACTIVE
        else:
            # an update names its record, or the call-back task an earlier call planned
            assert (w.record_id is not None) != ("id" in w.links), w
            assert "Owner" not in w.fields
    assert len({w.sync_key for w in writes}) == len(writes)

    # links only point at leads planned in this run, by an earlier (or the same) call, and
    # updates of a call-back only at a call-back task an earlier call planned
    seen: set[str] = set()
    callbacks: set[str] = set()
    for p in plans:
        for w in p.writes:
            assert set(w.links.values()) <= seen | callbacks | {w.sync_key} | {
                x.sync_key for x in p.writes if x.kind == "lead"
            }
            if "id" in w.links:
                assert w.links["id"] in callbacks and w.kind in ("callback_merge", "callback_done")
            if w.kind == "lead":
                seen.add(w.sync_key)
            if w.callback is not None and w.callback.action == "open":
                callbacks.add(w.sync_key)

    # never two leads for one client in a run
    lead_phones = [
        normalize(w.fields["Phone"], region="UA", match_digits=9)
        for w in writes
        if w.kind == "lead"
    ]
    if cfg.scenario.strict_country_match:
        per_client = Counter((p.key, p.country_code) for p in lead_phones if p is not None)
    else:
        per_client = Counter(p.key for p in lead_phones if p is not None)
    assert all(n == 1 for n in per_client.values()), per_client

    # a lead is only planned for a client with no matching CRM record
    crm_keys = {
        ph.key for r in records if r.module != "Deals" and not r.converted for ph in r.phones
    }
    crm_keys |= {ph.key for r in records if r.module == "Contacts" for ph in r.phones}
    if not cfg.scenario.strict_country_match:
        assert not {p.key for p in lead_phones if p is not None} & crm_keys

    # enrich modes never create anything while waiting
    for p in plans:
        if p.reason == "enrich_waiting":
            assert p.writes == ()


@settings(max_examples=60, deadline=None)
@given(
    specs=rows_strategy,
    record_specs=records_strategy,
    config=config_strategy,
    seed=st.integers(0, 10_000),
)
def test_planning_is_deterministic(
    specs: list[dict[str, Any]],
    record_specs: list[tuple[str, str, str, int, bool]],
    config: dict[str, Any],
    seed: int,
) -> None:
    cfg = make_settings(config)
    calls, _ = parse_rows(make_rows(specs), cfg)
    records = make_records(record_specs, cfg)
    now = BASE + timedelta(hours=3)
    first = json.dumps([p.to_json() for p in run(calls, records, cfg, now)], sort_keys=True)
    again = json.dumps([p.to_json() for p in run(calls, records, cfg, now)], sort_keys=True)
    shuffled_calls, shuffled_records = calls[:], records[:]
    random.Random(seed).shuffle(shuffled_calls)
    random.Random(seed + 1).shuffle(shuffled_records)
    shuffled = json.dumps(
        [p.to_json() for p in run(shuffled_calls, shuffled_records, cfg, now)], sort_keys=True
    )
    assert first == again == shuffled
