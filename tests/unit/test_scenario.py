"""The planner beyond the matrix table: lookup, ordering, enrich modes, overrides, field shapes."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scenario_world import (
    ANNA,
    END,
    GONE,
    KNOWN,
    NOW,
    PETRO,
    TOP,
    USERS,
    by_key,
    call,
    contact,
    deal,
    lead,
    plan,
    plan_one,
    record,
    settings,
)

from models.crm import ZOHO_DEFAULT_CLOSED_STAGES, CrmSnapshot, ZohoUser
from models.hours import WorkingHours
from models.plan import PlanStatus, RotationTurn
from models.settings import ConfigError, ScenarioSettings, Settings, load_settings
from tasks.calls import with_first_answerers
from tasks.employees import EmployeeMap
from tasks.scenario import (
    PlannedBatch,
    TopManagerError,
    plan_batch,
    plan_calls,
    plan_recording_updates,
    resolve_top_manager,
)
from tasks.scenario.hours import effective_hours, within_hours
from tasks.scenario.matrix import DEFAULT_ROWS, effective_rows

# --- SPEC 5: finding the client -------------------------------------------------------------


def test_unconverted_lead_first_then_open_deal_then_contact() -> None:
    c = call(client=KNOWN, employee="anna_sip")
    lead_rec = lead("L-1", modified="2026-01-01T10:00:00+02:00")
    contact_rec = contact("C-1", modified="2026-01-15T10:00:00+02:00")
    deal_rec = deal("D-1", "C-1", modified="2026-01-16T10:00:00+02:00")

    p = plan_one(c, [contact_rec, deal_rec, lead_rec])
    assert p.attachment is not None and (p.attachment.module, p.attachment.id) == ("Leads", "L-1")

    p = plan_one(c, [contact_rec, deal_rec])
    assert p.attachment is not None and (p.attachment.module, p.attachment.id) == ("Deals", "D-1")
    task = p.writes[0].fields
    assert task["What_Id"] == {"id": "D-1"}
    assert task["$se_module"] == "Deals"
    assert task["Who_Id"] == {"id": "C-1"}

    p = plan_one(c, [contact_rec])
    assert p.attachment is not None and (p.attachment.module, p.attachment.id) == (
        "Contacts",
        "C-1",
    )
    task = p.writes[0].fields
    assert task["Who_Id"] == {"id": "C-1"}
    assert "What_Id" not in task and "$se_module" not in task


def test_most_recently_modified_wins_and_ties_break_by_id() -> None:
    c = call(client=KNOWN)
    old = lead("L-old", modified="2026-01-01T10:00:00+02:00")
    new = lead("L-new", modified="2026-01-17T10:00:00+02:00")
    p = plan_one(c, [new, old])
    assert p.attachment is not None and p.attachment.id == "L-new"
    p = plan_one(c, [old, new])
    assert p.attachment is not None and p.attachment.id == "L-new"
    a, b = lead("L-b"), lead("L-a")  # same Modified_Time
    for order in ([a, b], [b, a]):
        got = plan_one(c, order).attachment
        assert got is not None and got.id == "L-a"


def test_converted_leads_and_closed_deals_are_not_taken() -> None:
    c = call(client=KNOWN)
    converted = lead("L-conv", Converted__s=True, modified="2026-01-17T10:00:00+02:00")
    won = deal("D-won", "C-1", stage="Closed Won", modified="2026-01-17T10:00:00+02:00")
    lost = deal("D-lost", "C-1", stage="Closed Lost")
    p = plan_one(c, [converted, contact("C-1"), won, lost])
    assert p.attachment is not None and (p.attachment.module, p.attachment.id) == (
        "Contacts",
        "C-1",
    )
    assert not p.ambiguous
    # only a converted lead left: a new client
    p = plan_one(c, [converted])
    assert p.client_status == "new" and p.row == 2  # nobody answered: unmapped → row 2


def test_responsible_manager_is_the_owner_of_the_record_taken() -> None:
    c = call(client=KNOWN, employee="petro_sip")
    p = plan_one(c, [contact("C-1", owner=ANNA.id), deal("D-1", "C-1", owner=PETRO.id)])
    assert p.row == 3  # E = R = Petro, the Deal's owner
    assert [w.owner_id for w in p.writes] == [PETRO.id]


@pytest.mark.parametrize(
    ("records", "ambiguous"),
    [
        ([lambda: lead("L-1")], False),
        ([lambda: lead("L-1"), lambda: lead("L-2")], True),
        ([lambda: lead("L-1"), lambda: contact("C-1")], True),
        ([lambda: contact("C-1"), lambda: deal("D-1", "C-1")], False),  # one client
        ([lambda: contact("C-1"), lambda: deal("D-1"), lambda: deal("D-2")], True),
        ([lambda: contact("C-1"), lambda: contact("C-2")], True),
        ([lambda: lead("L-1"), lambda: lead("L-c", Converted__s=True)], False),
    ],
)
def test_ambiguity_is_flagged_but_the_call_is_processed(
    records: list[Any], ambiguous: bool
) -> None:
    p = plan_one(call(client=KNOWN, employee="anna_sip"), [make() for make in records])
    assert p.ambiguous is ambiguous
    assert p.status is PlanStatus.PLANNED and p.writes


def test_a_record_matches_by_any_of_its_phone_fields_in_any_format() -> None:
    rec = record("Contacts", "C-9", Last_Name="X", Phone="", Other_Phone="(067) 111-22-33")
    p = plan_one(call(client="+380671112233"), [rec])
    assert p.attachment is not None and p.attachment.id == "C-9"


@pytest.mark.parametrize(
    ("fields", "client"),
    [
        ({"Phone": "067 111 22 99, 050 111 22 98"}, "+380501112298"),
        ({"Phone": "067 111 22 99, 050 111 22 98"}, "0671112299"),
        ({"Mobile": "+380 67 111 22 77 (viber)"}, "+380671112277"),
        ({"Home_Phone": "tel. 050-111-22-33 ext 5"}, "380501112233"),
    ],
)
def test_a_contact_matches_by_every_number_typed_into_its_phone_fields(
    fields: dict[str, str], client: str
) -> None:
    # SPEC 3 (decided): without it the caller got a second lead owned by whoever answered
    rec = record("Contacts", "C-typed", Last_Name="Typed", **fields)
    p = plan_one(call(client=client, employee="anna_sip"), [rec])
    assert (p.client_status, p.row) == ("existing", 4)
    assert p.attachment is not None and p.attachment.id == "C-typed"
    assert not any(w.module == "Leads" for w in p.writes)
    assert [w.owner_id for w in p.writes] == [ANNA.id, PETRO.id]


# --- SPEC 3 (decided): the country guard ------------------------------------------------------


@pytest.mark.parametrize(("strict", "client_status"), [(True, "new"), (False, "existing")])
def test_country_guard(strict: bool, client_status: str) -> None:
    polish = lead("L-pl", "+48 661 234 567")
    cfg = settings(strict_country_match=strict)
    p = plan_one(call(client="+380661234567", employee="anna_sip", config=cfg), [polish], cfg)
    assert p.client_status == client_status
    if strict:
        assert p.row == 1 and p.writes[0].module == "Leads"
    else:
        assert p.row == 4 and p.attachment is not None and p.attachment.id == "L-pl"


def test_country_guard_in_run_two_countries_two_leads_when_strict() -> None:
    calls = [
        call("a", client="+380661234567", employee="anna_sip"),
        call("b", client="+48661234567", employee="anna_sip", when="2026-01-18 10:05:00"),
    ]
    strict = plan(calls)
    assert [len([w for w in p.writes if w.module == "Leads"]) for p in strict] == [1, 1]
    loose_cfg = settings(strict_country_match=False)
    loose = plan(calls, config=loose_cfg)
    assert [len([w for w in p.writes if w.module == "Leads"]) for p in loose] == [1, 0]


# --- SPEC 5: in-run ordering ---------------------------------------------------------------


def test_two_calls_from_one_new_number_never_plan_two_leads() -> None:
    first = call("b-first", when="2026-01-18 09:00:00", disposition="NO ANSWER")
    second = call("a-second", when="2026-01-18 09:30:00", employee="anna_sip")
    third = call("c-third", when="2026-01-18 09:30:00", disposition="VOICEMAIL")
    plans = plan([third, second, first])  # input order does not matter
    assert [p.uniqueid for p in plans] == ["b-first", "a-second", "c-third"]
    leads = [w for p in plans for w in p.writes if w.module == "Leads"]
    assert [w.sync_key for w in leads] == ["b-first/lead"]

    assert plans[0].row == 6 and plans[0].client_status == "new"
    # later calls: existing client, the planned lead (owner TOP) is the record
    assert plans[1].row == 4 and plans[1].client_status == "existing"
    assert plans[2].row == 9
    for p in plans[1:]:
        assert p.attachment is not None
        assert (p.attachment.id, p.attachment.planned_key) == (None, "b-first/lead")
        for w in p.writes:
            if w.op == "insert":
                assert w.links == {"What_Id": "b-first/lead"}
                assert w.depends_on == ("b-first/lead",)
    # row 4 on a planned lead: R is the lead's owner (TOP); Anna's answer completes the
    # call-back the missed call opened (its task is planned too: the update links to it)
    assert [w.owner_id for w in plans[1].writes] == [ANNA.id, TOP.id, TOP.id]
    done = plans[1].writes[-1]
    assert (done.kind, done.sync_key, done.links) == (
        "callback_done",
        "a-second/callback-done",
        {"id": "b-first/task"},
    )


def test_ties_on_calldate_are_ordered_by_uniqueid() -> None:
    x = call("x", employee="anna_sip")
    y = call("y", employee="petro_sip")
    for order in ([x, y], [y, x]):
        plans = plan(order)
        assert [p.uniqueid for p in plans] == ["x", "y"]
        assert plans[0].writes[0].sync_key == "x/lead"
        assert plans[0].writes[0].owner_id == ANNA.id
        assert plans[1].row == 4  # Petro answers a client whose lead Anna owns


def test_an_existing_crm_lead_means_no_planned_lead() -> None:
    plans = plan([call("a", client=KNOWN), call("b", client=KNOWN)], [lead()])
    assert all(w.module == "Tasks" for p in plans for w in p.writes)


def test_repeated_uniqueid_is_planned_once_from_the_last_row() -> None:
    first = call("dup", disposition="NO ANSWER")
    last = call("dup", disposition="ANSWERED", employee="anna_sip")
    plans = plan([first, last])
    assert len(plans) == 1 and plans[0].row == 1


# --- owners -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "inactive_owner", "writes", "row"),
    [
        # "top" (default): the record is handed to TOP, who is then R: E = Anna ≠ R = TOP
        (GONE.id, "top", [("c1/owner", "update", TOP.id), ("c1/task", "insert", ANNA.id), ("c1/task-responsible", "insert", TOP.id)], 4),
        ("u-stranger", "top", [("c1/owner", "update", TOP.id), ("c1/task", "insert", ANNA.id), ("c1/task-responsible", "insert", TOP.id)], 4),
        # "leave": the record keeps its owner; the task R would get still goes to TOP
        (GONE.id, "leave", [("c1/task", "insert", ANNA.id), ("c1/task-responsible", "insert", TOP.id)], 4),
        ("u-stranger", "leave", [("c1/task", "insert", ANNA.id), ("c1/task-responsible", "insert", TOP.id)], 4),
        # an active owner is never touched
        (PETRO.id, "top", [("c1/task", "insert", ANNA.id), ("c1/task-responsible", "insert", PETRO.id)], 4),
    ],
)  # fmt: skip
def test_a_record_of_an_inactive_owner(
    owner: str, inactive_owner: str, writes: list[tuple[str, str, str]], row: int
) -> None:
    # was: the record stayed with the departed manager whatever the config
    cfg = settings(inactive_owner=inactive_owner)
    p = plan_one(call(client=KNOWN, employee="anna_sip"), [lead(owner=owner)], cfg)
    assert p.row == row
    assert [(w.sync_key, w.op, w.owner_id) for w in p.writes] == writes
    handover = by_key(p).get("c1/owner")
    if handover is not None:
        assert (handover.module, handover.record_id, handover.kind) == ("Leads", "L-1", "owner")
        assert dict(handover.fields) == {"Owner": {"id": TOP.id}}
        assert p.attachment is not None and p.attachment.owner_id == TOP.id


def test_inactive_owner_handover_once_per_record_and_only_when_the_row_writes() -> None:
    calls = [
        call("a", client=KNOWN, disposition="BUSY"),
        call("b", client=KNOWN, disposition="BUSY", when="2026-01-18 10:10:00"),
        call("c", client=KNOWN, direction="out", disposition="BUSY", when="2026-01-18 10:20:00"),
    ]
    plans = plan(calls, [contact("C-1", owner=GONE.id), deal("D-1", "C-1", owner=GONE.id)])
    assert [[(w.sync_key, w.module, w.record_id) for w in p.writes if w.kind == "owner"] for p in plans] == [
        [("a/owner", "Deals", "D-1")],  # the record the call is attached to: the open deal
        [],  # handed over already in this run
        [],  # row 13 writes nothing, so it moves nothing
    ]  # fmt: skip
    assert plans[2].reason == "outbound_not_answered"


def test_inactive_owner_config() -> None:
    assert ScenarioSettings().inactive_owner == "top"
    with pytest.raises(ConfigError, match="inactive_owner"):
        load_settings(overrides={"scenario": {"inactive_owner": "keep"}})


def test_auto_mapped_zoho_user_is_the_employee() -> None:
    users = (*USERS, ZohoUser("u-ira", "ira@example.com", "Iryna", phone="+380639990011"))
    p = plan_one(call(employee="0639990011"), users=users)
    assert p.employee_user_id == "u-ira" and p.row == 1
    assert p.writes[0].owner_id == "u-ira"


@pytest.mark.parametrize(
    "connected_with",
    ["sip:anna_sip@pbx.example", '"Anna Ivanova" <anna_sip>', "<sip:anna_sip@pbx.example>"],
)
def test_sip_forms_in_connected_with_map_the_employee(connected_with: str) -> None:
    # was row 5 (a TOP task naming an "unmapped" SIP): Anna is mapped, whatever the form
    p = plan_one(call(client=KNOWN, employee=connected_with), [lead()])
    assert (p.row, p.employee_user_id) == (4, ANNA.id)
    assert [w.owner_id for w in p.writes] == [ANNA.id, PETRO.id]


def test_client_number_of_a_mapped_employee_is_own_number() -> None:
    users = (*USERS, ZohoUser("u-ira", "ira@example.com", "Iryna", mobile="+380639990011"))
    p = plan_one(call(client="+380639990011"), users=users)
    assert (p.status, p.reason, p.writes) == (PlanStatus.SKIPPED, "own_number", ())


@pytest.mark.parametrize(("strict", "status"), [(True, "planned"), (False, "skipped")])
def test_employee_number_of_another_country_is_a_client_under_the_guard(
    strict: bool, status: str
) -> None:
    # SPEC 3: the own-number rule in the planner uses the country guard of client matching
    users = (*USERS, ZohoUser("u-ira", "ira@example.com", "Iryna", mobile="+380639990011"))
    cfg = settings(strict_country_match=strict)
    p = plan_one(call(client="+48639990011", config=cfg), users=users, config=cfg)
    assert (p.status.value, p.reason) == ((status, None) if strict else (status, "own_number"))
    if strict:
        assert p.row == 2 and p.writes[0].fields["Phone"] == "+48639990011"


# --- TOP manager ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ("", "not set"),
        ("nobody@example.com", "is not a Zoho user"),
        ("gone@example.com", "not an active Zoho user"),
    ],
)
def test_top_manager_must_be_an_active_user(top: str, message: str) -> None:
    cfg = settings(top_manager=top)
    with pytest.raises(TopManagerError, match=message):
        resolve_top_manager(cfg.scenario, USERS)
    with pytest.raises(TopManagerError, match=message):
        plan([call()], config=cfg)


@pytest.mark.parametrize("ident", ["u-top", "BOSS@example.com", " boss@example.com "])
def test_top_manager_by_id_or_email(ident: str) -> None:
    assert resolve_top_manager(ScenarioSettings(top_manager=ident), USERS) == TOP


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        plan([call()], now=datetime(2026, 1, 18, 12))  # noqa: DTZ001 - the point of the test


# --- SPEC 7: record shapes --------------------------------------------------------------------


def test_lead_fields_exactly() -> None:
    c = call(
        employee="anna_sip",
        utm_source="google",
        utm_medium="",
        utm_campaign="winter",
        client_id="GA1.2.3",
    )
    lead_write = plan_one(c).writes[0]
    assert lead_write.module == "Leads" and lead_write.op == "insert" and lead_write.kind == "lead"
    assert dict(lead_write.fields) == {
        "Last_Name": "+380501112233",
        "Phone": "+380501112233",
        "Owner": {"id": ANNA.id},
        "rs_utm_source": "google",
        "rs_utm_campaign": "winter",
        "rs_google_client_id": "GA1.2.3",
        "rs_sync_key": "c1/lead",
    }


def test_lead_name_template_lead_source_and_custom_field_names() -> None:
    cfg = settings(
        lead_name_template="Call {phone} ({utm_source})",
        lead_source="Ringostat",
        utm_fields={"utm_source": "UTM_Source_Custom"},
        sync_key_field="callsync_key",
    )
    fields = plan_one(call(utm_source="fb", config=cfg), config=cfg).writes[0].fields
    assert fields["Last_Name"] == "Call +380501112233 (fb)"
    assert fields["Lead_Source"] == "Ringostat"
    assert fields["UTM_Source_Custom"] == "fb" and "rs_utm_source" not in fields
    assert fields["callsync_key"] == "c1/lead"


FIELD_MAP = {
    "Leads": {
        "rs_landing_page": "landing",
        "rs_referrer": "referrer",  # Ringostat's wire name is refferrer: both spellings work
        "rs_tracking_line": "dst",
        "rs_department": "department",
        "rs_call_counter": "call_counter",  # an extra field Ringostat may send: kept in raw
    },
    "Tasks": {"rs_landing_page": "landing", "rs_tracking_line": "dst"},
}


def test_field_map_puts_call_fields_on_leads_and_tasks() -> None:
    # SPEC 7 (decided): any Ringostat call field onto any Zoho field of the lead and the task
    cfg = settings(field_map=FIELD_MAP)
    c = call(
        config=cfg,
        employee="anna_sip",
        landing="https://shop.example/sofas?utm_source=google",
        refferrer="https://www.google.com/",
        dst=380441234567,  # ints arrive as text
        department="",  # empty values are omitted
        call_counter=3,
    )
    lead_write, task = plan_one(c, config=cfg).writes
    assert {
        k: v for k, v in lead_write.fields.items() if k.startswith("rs_") and "utm" not in k
    } == {
        "rs_landing_page": "https://shop.example/sofas?utm_source=google",
        "rs_referrer": "https://www.google.com/",
        "rs_tracking_line": "380441234567",
        "rs_call_counter": "3",
        "rs_sync_key": "c1/lead",
    }
    assert task.fields["rs_landing_page"] == "https://shop.example/sofas?utm_source=google"
    assert task.fields["rs_tracking_line"] == "380441234567"
    assert "rs_referrer" not in task.fields and "rs_department" not in task.fields
    assert task.fields["rs_sync_key"] == "c1/task" and task.fields["Owner"] == {"id": ANNA.id}
    # without the map, nothing of it reaches the records (it stays in the task text only)
    plain = plan_one(call(employee="anna_sip", landing="https://shop.example/"))
    assert not any("landing" in k for w in plain.writes for k in w.fields)


def test_field_map_applies_to_every_task_of_a_call() -> None:
    cfg = settings(field_map={"Tasks": {"rs_line": "dst"}})
    p = plan_one(
        call(client=KNOWN, employee="anna_sip", dst="+380441234567", config=cfg), [lead()], cfg
    )
    assert [w.fields.get("rs_line") for w in p.writes] == ["+380441234567", "+380441234567"]


@pytest.mark.parametrize(
    ("field_map", "message"),
    [
        ({"Leads": {"Owner": "employee_fio"}}, "field_map.Leads cannot map Owner"),
        ({"Leads": {"rs_sync_key": "uniqueid"}}, "cannot map rs_sync_key"),
        ({"Tasks": {"Status": "disposition", "What_Id": "x"}}, "cannot map Status, What_Id"),
        ({"Leads": {"rs landing": "landing"}}, "not a Zoho field API name"),
        ({"Leads": {"rs_landing": "the landing"}}, "name a Ringostat call field"),
        ({"Deals": {"rs_landing": "landing"}}, "unknown key 'scenario.field_map.Deals'"),
    ],
)
def test_field_map_config_errors(field_map: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides={"scenario": {"field_map": field_map}})


def test_field_map_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "callsync.toml"
    path.write_text(
        '[scenario]\ntop_manager = "boss@example.com"\n\n'
        '[scenario.field_map.Leads]\nrs_landing_page = "landing"\n\n'
        '[scenario.field_map.Tasks]\nrs_referrer = "refferrer"\n',
        encoding="utf-8",
    )
    fm = load_settings(path).scenario.field_map
    assert (fm.Leads, fm.Tasks) == ({"rs_landing_page": "landing"}, {"rs_referrer": "refferrer"})


@pytest.mark.parametrize(
    ("template", "utm", "last_name"),
    [
        # a placeholder without a value renders empty, and the brackets it leaves go with it
        ("Call {phone} ({utm_source})", {}, "Call +380501112233"),
        ("Call {phone} ({utm_source})", {"utm_source": "fb"}, "Call +380501112233 (fb)"),
        ("Call {phone} ({utm_source}, {utm_medium})", {}, "Call +380501112233"),
        ("Call {phone} ({utm_source}, {utm_medium})", {"utm_medium": "cpc"}, "Call +380501112233 (cpc)"),
        ("{phone} [{utm_source} / {utm_campaign}]", {"utm_campaign": "winter"}, "+380501112233 [winter]"),
        ("{utm_source} - {phone}", {}, "+380501112233"),
        ("{phone}, {utm_source}, {utm_campaign}, web", {}, "+380501112233, web"),
        ("{utm_source}", {}, "+380501112233"),  # nothing left: the number, never an empty name
        # the admin's own text is never touched; an unknown name stays visible
        ("Call {phone} (web) ()", {}, "Call +380501112233 (web) ()"),
        ("Call {phone} ({nope})", {}, "Call +380501112233 ({nope})"),
    ],
)  # fmt: skip
def test_lead_name_template_with_missing_values(
    template: str, utm: dict[str, str], last_name: str
) -> None:
    # was "Call +380501112233 ({utm_source})": the placeholder stayed in the lead's name
    cfg = settings(lead_name_template=template)
    fields = plan_one(call(config=cfg, **utm), config=cfg).writes[0].fields
    assert fields["Last_Name"] == last_name


def test_subject_template_with_missing_values() -> None:
    task = {"status": "open", "owner": "top", "subject": "Call back {phone} ({utm_source})"}
    cfg = settings(rows={7: {"tasks": [task]}})
    (w,) = plan_one(call(client=KNOWN, disposition="BUSY", config=cfg), [lead()], cfg).writes
    assert w.fields["Subject"] == "Call back +380671112233"


def test_broken_lead_name_template_is_used_verbatim_not_raised() -> None:
    cfg = settings(lead_name_template="Client {phone")
    fields = plan_one(call(config=cfg), config=cfg).writes[0].fields
    assert fields["Last_Name"] == "Client {phone"


def test_task_description_lines() -> None:
    c = call(
        client=KNOWN,
        employee="anna_sip",
        billsec=125,
        duration=150,
        recording="https://rec/1.mp3",
        utm_source="google",
        utm_campaign="winter",
        call_card="https://app.ringostat.com/c1",
    )
    text = plan_one(c, [lead()]).writes[0].fields["Description"]
    assert text.splitlines() == [
        "Inbound call, answered (ANSWERED)",
        "Call time: 2026-01-18 10:00:00 (Europe/Kyiv)",
        "Talk time: 02:05 (total 02:30)",
        "Client number: +380671112233",
        "Employee: Anna Ivanova",
        "Recording: https://rec/1.mp3",
        "UTM: utm_source=google, utm_campaign=winter",
        "Ringostat call card: https://app.ringostat.com/c1",
        "Ringostat call id: c1",
    ]


def test_unmapped_outbound_description_names_the_sip_login() -> None:
    c = call(direction="out", client=KNOWN, employee="ghost_sip", employee_fio="Ghost")
    text = plan_one(c, [lead()]).writes[0].fields["Description"]
    assert (
        "Employee: not in the employee map; the SIP/number that placed the call: ghost_sip "
        "(Ringostat name: Ghost)" in text
    )


def test_dates_in_company_timezone_across_midnight_and_summer_time() -> None:
    # 23:10 Kyiv summer time (+03:00) on 30 June = 20:10 UTC; deadline 4 h later is 1 July local.
    c = call(client=KNOWN, disposition="NO ANSWER", when="2025-06-30 23:10:00", duration=0)
    task = plan_one(c, [lead()], now=datetime(2025, 7, 1, tzinfo=UTC)).writes[0]
    assert task.due_at == datetime(2025, 7, 1, 0, 10, tzinfo=UTC)
    assert task.fields["Due_Date"] == "2025-07-01"
    assert task.fields["Remind_At"]["ALARM"].endswith("TRIGGER=DATE-TIME:2025-07-01T03:10:00+03:00")
    assert "Call time: 2025-06-30 23:10:00 (Europe/Kyiv)" in task.fields["Description"]
    # A log task is due on the local day the call ended.
    log = plan_one(
        call(client=KNOWN, employee="petro_sip", when="2025-06-30 23:59:00", duration=120), [lead()]
    )
    assert log.writes[0].fields["Due_Date"] == "2025-07-01"


@pytest.mark.parametrize(
    ("when", "end_utc", "trigger", "call_time"),
    [
        # the open task's deadline crosses the spring jump (03:00 → 04:00): +02:00 → +03:00
        (
            "2025-03-30 01:30:00",
            datetime(2025, 3, 29, 23, 31, 30, tzinfo=UTC),
            "2025-03-30T06:31:30+03:00",
            "2025-03-30 01:30:00",
        ),
        # the call falls in the repeated autumn hour (first occurrence, +03:00); deadline +02:00
        (
            "2025-10-26 03:30:00",
            datetime(2025, 10, 26, 0, 31, 30, tzinfo=UTC),
            "2025-10-26T06:31:30+02:00",
            "2025-10-26 03:30:00",
        ),
        # a wall time skipped in spring is read with the pre-jump offset and shown as real time
        (
            "2025-03-30 03:30:00",
            datetime(2025, 3, 30, 1, 31, 30, tzinfo=UTC),
            "2025-03-30T08:31:30+03:00",
            "2025-03-30 04:30:00",
        ),
    ],
)
def test_open_task_deadlines_across_kyiv_dst_changes(
    when: str, end_utc: datetime, trigger: str, call_time: str
) -> None:
    c = call(client=KNOWN, disposition="NO ANSWER", when=when)
    assert c.ended_at == end_utc
    task = plan_one(c, [lead()], now=end_utc).writes[0]
    assert task.due_at == end_utc + timedelta(hours=4)
    assert task.fields["Remind_At"]["ALARM"].endswith(f"TRIGGER=DATE-TIME:{trigger}")
    assert task.fields["Due_Date"] == trigger[:10]
    assert f"Call time: {call_time} (Europe/Kyiv)" in task.fields["Description"]


def test_company_timezone_and_due_hours_are_configurable() -> None:
    cfg = settings(company_timezone="Europe/Warsaw", open_task_due_hours=24)
    c = call(client=KNOWN, disposition="BUSY", config=cfg)
    task = plan_one(c, [lead()], cfg).writes[0]
    assert task.due_at == END + timedelta(hours=24)
    assert task.fields["Remind_At"]["ALARM"].endswith("2026-01-19T09:01:30+01:00")
    assert "(Europe/Warsaw)" in task.fields["Description"]


def test_calls_module_record_when_log_calls() -> None:
    cfg = settings(log_calls=True)
    c = call(
        client=KNOWN, employee="anna_sip", billsec=125, recording="https://rec/1.mp3", config=cfg
    )
    p = plan_one(c, [lead()], cfg)
    writes = by_key(p)
    assert list(writes) == ["c1/task", "c1/task-responsible", "c1/call"]
    call_write = writes["c1/call"]
    assert call_write.module == "Calls" and call_write.kind == "call"
    assert call_write.owner_id == ANNA.id  # same owner as the log task
    fields = dict(call_write.fields)
    assert fields["Call_Type"] == "Inbound"
    assert fields["Call_Start_Time"] == "2026-01-18T10:00:00+02:00"
    assert fields["Call_Duration"] == "02:05"
    assert fields["Voice_Recording__s"] == "https://rec/1.mp3"
    assert fields["What_Id"] == {"id": "L-1"} and fields["$se_module"] == "Leads"
    assert fields["Owner"] == {"id": ANNA.id} and fields["rs_sync_key"] == "c1/call"


@pytest.mark.parametrize(
    ("kw", "call_type", "duration", "owner"),
    [
        ({"disposition": "NO ANSWER", "billsec": 0}, "Missed", "00:00", TOP.id),
        (
            {"direction": "out", "employee": "anna_sip", "billsec": 0, "duration": 0},
            "Outbound",
            "00:01",
            ANNA.id,
        ),
    ],
)
def test_calls_module_types(kw: dict[str, Any], call_type: str, duration: str, owner: str) -> None:
    cfg = settings(log_calls=True)
    p = plan_one(call(client=KNOWN, config=cfg, **kw), [lead()], cfg)
    w = by_key(p)["c1/call"]
    assert (w.fields["Call_Type"], w.fields["Call_Duration"], w.owner_id) == (
        call_type,
        duration,
        owner,
    )
    assert "Voice_Recording__s" not in w.fields


def test_calls_record_on_a_planned_lead_links_to_it() -> None:
    cfg = settings(log_calls=True)
    w = by_key(plan_one(call(employee="anna_sip", config=cfg), config=cfg))["c1/call"]
    assert w.links == {"What_Id": "c1/lead"} and "What_Id" not in w.fields


# --- matrix overrides -------------------------------------------------------------------------


def test_default_rows_without_overrides_are_the_table() -> None:
    assert effective_rows(ScenarioSettings()) == dict(DEFAULT_ROWS)


def test_overrides_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "callsync.toml"
    config.write_text(
        """
[scenario]
top_manager = "boss@example.com"

[scenario.rows.3]
tasks = [{status = "open", owner = "responsible", subject = "Check {phone}"}]

[scenario.rows.6]
create_lead = false

[scenario.rows.10]
create_lead = true
lead_owner = "employee"
tasks = [{status = "log", owner = "employee"}]

[scenario.rows.13]
skip_reason = "custom_reason"

[[employees]]
zoho_user = "anna@example.com"
sip = ["anna_sip"]
""",
        encoding="utf-8",
    )
    cfg = load_settings(config)
    # row 3 now an open task for R with a custom subject
    p = plan_one(call(client=KNOWN, employee="anna_sip"), [lead(owner=ANNA.id)], cfg)
    assert p.row == 3
    (w,) = p.writes
    assert (w.fields["Status"], w.owner_id, w.fields["Subject"]) == (
        "Not Started",
        ANNA.id,
        "Check +380671112233",
    )
    # row 6 keeps its task but creates no lead: the task has no record to attach to
    p = plan_one(call(disposition="BUSY"), config=cfg)
    assert [w.module for w in p.writes] == ["Tasks"] and p.attachment is None
    assert "What_Id" not in p.writes[0].fields and not p.writes[0].links
    # row 10 acts (setting create_lead/tasks drops the default skip)
    p = plan_one(call(direction="out", employee="anna_sip"), config=cfg)
    assert p.status is PlanStatus.PLANNED
    assert [(w.module, w.owner_id) for w in p.writes] == [("Leads", ANNA.id), ("Tasks", ANNA.id)]
    assert p.writes[1].fields["Subject"] == "Outbound call to +380501112233"
    # row 13 skips with the configured reason
    p = plan_one(call(direction="out", disposition="BUSY"), config=cfg)
    assert (p.status, p.reason) == (PlanStatus.SKIPPED, "custom_reason")


def test_subject_templates_fill_known_placeholders_and_keep_unknown_ones() -> None:
    task = {
        "status": "open",
        "owner": "top",
        "subject": "{outcome} {direction} {utm_source} {nope} {uniqueid}",
    }
    cfg = settings(rows={7: {"tasks": [task]}})
    c = call(client=KNOWN, disposition="BUSY", utm_source="fb", config=cfg)
    (w,) = plan_one(c, [lead()], cfg).writes
    assert w.fields["Subject"] == "missed inbound fb {nope} c1"


def test_override_that_leaves_a_row_without_actions_is_a_visible_skip() -> None:
    cfg = settings(rows={7: {"tasks": []}})
    p = plan_one(call(client=KNOWN, disposition="BUSY"), [lead()], cfg)
    assert (p.status, p.reason, p.row) == (PlanStatus.SKIPPED, "matrix_skip", 7)


def test_override_can_clear_or_keep_a_skip_reason() -> None:
    rows = effective_rows(
        ScenarioSettings(rows={13: {"skip_reason": ""}, 10: {"lead_owner": "employee"}})
    )
    assert rows[13].skip_reason is None  # cleared: with no tasks the row is a matrix_skip
    assert rows[10].skip_reason == "outbound_no_entity"  # lead_owner alone does not make it act


def test_override_listing_one_slot_twice_keeps_sync_keys_unique() -> None:
    task = {"status": "log", "owner": "employee"}
    cfg = settings(rows={3: {"tasks": [task, task]}})
    p = plan_one(call(client=KNOWN, employee="petro_sip"), [lead()], cfg)
    assert [w.sync_key for w in p.writes] == ["c1/task", "c1/task-2"]


def test_create_lead_never_applies_to_an_existing_client() -> None:
    cfg = settings(rows={3: {"create_lead": True}})
    p = plan_one(call(client=KNOWN, employee="petro_sip"), [lead()], cfg)
    assert [w.module for w in p.writes] == ["Tasks"]


# --- SPEC 8: enrich modes ---------------------------------------------------------------------

UTM = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"}


@pytest.mark.parametrize(
    ("policy", "existing", "expected"),
    [
        (
            "first_touch",
            {},
            {"rs_utm_source": "google", "rs_utm_medium": "cpc", "rs_utm_campaign": "spring"},
        ),
        (
            "first_touch",
            {"rs_utm_source": "fb"},
            {"rs_utm_medium": "cpc", "rs_utm_campaign": "spring"},
        ),
        (
            "first_touch",
            {"rs_utm_source": "fb", "rs_utm_medium": "x", "rs_utm_campaign": "y"},
            None,
        ),
        (
            "last_touch",
            {"rs_utm_source": "fb", "rs_utm_medium": "cpc"},
            {"rs_utm_source": "google", "rs_utm_campaign": "spring"},
        ),
        (
            "last_touch",
            {"rs_utm_source": "google", "rs_utm_medium": "cpc", "rs_utm_campaign": "spring"},
            None,
        ),
    ],
)
def test_enrich_leads_utm_policy(
    policy: str, existing: dict[str, str], expected: dict[str, str] | None
) -> None:
    cfg = settings(mode="enrich_leads", utm_policy=policy)
    c = call(client=KNOWN, employee="petro_sip", config=cfg, **UTM)
    p = plan_one(c, [lead(**existing)], cfg)
    assert p.status is PlanStatus.PLANNED and p.row == 3
    writes = by_key(p)
    if expected is None:
        assert list(writes) == ["c1/task"]  # nothing changes: no update at all
    else:
        assert list(writes) == ["c1/utm-lead", "c1/task"]
        update = writes["c1/utm-lead"]
        assert (update.module, update.op, update.record_id, update.kind) == (
            "Leads",
            "update",
            "L-1",
            "utm",
        )
        assert dict(update.fields) == expected  # only changed fields, no Owner, no sync key
        assert update.owner_id == PETRO.id


def test_enrich_leads_on_a_contact_adds_tasks_without_utm() -> None:
    cfg = settings(mode="enrich_leads")
    p = plan_one(call(client=KNOWN, config=cfg, **UTM), [contact()], cfg)
    assert [w.module for w in p.writes] == ["Tasks"]


@pytest.mark.parametrize(
    ("records", "targets"),
    [
        (lambda: [contact("C-1"), deal("D-1", "C-1")], [("Contacts", "C-1"), ("Deals", "D-1")]),
        (lambda: [contact("C-1")], [("Contacts", "C-1")]),
        (lambda: [contact("C-1"), deal("D-1", "C-1", stage="Closed Lost")], [("Contacts", "C-1")]),
        (lambda: [lead("L-1")], []),  # the Lead takes the call: no Contact to enrich
        # the Lead takes the call, yet the matching Contact and its open Deal get the UTM
        (
            lambda: [lead("L-1"), contact("C-1"), deal("D-1", "C-1")],
            [("Contacts", "C-1"), ("Deals", "D-1")],
        ),
    ],
)
def test_enrich_contacts_deals_targets(records: Any, targets: list[tuple[str, str]]) -> None:
    cfg = settings(mode="enrich_contacts_deals")
    p = plan_one(call(client=KNOWN, disposition="NO ANSWER", config=cfg, **UTM), records(), cfg)
    updates = [(w.module, w.record_id) for w in p.writes if w.kind == "utm"]
    assert updates == targets
    assert [w.sync_key for w in p.writes if w.kind == "utm"] == [
        f"c1/utm-{m.lower().removesuffix('s')}" for m, _ in targets
    ]
    assert p.writes[-1].module == "Tasks" and p.row == 7


def test_enrich_utm_in_one_run_sees_earlier_updates() -> None:
    cfg = settings(mode="enrich_leads")
    first = call("a", client=KNOWN, config=cfg, utm_source="google")
    second = call("b", client=KNOWN, config=cfg, when="2026-01-18 10:30:00", utm_source="fb")
    plans = plan([first, second], [lead()], cfg)
    assert [w.fields for w in plans[0].writes if w.kind == "utm"] == [{"rs_utm_source": "google"}]
    assert [w for w in plans[1].writes if w.kind == "utm"] == []  # first touch already filled
    last = settings(mode="enrich_leads", utm_policy="last_touch")
    plans = plan([first, second], [lead()], last)
    assert [w.fields for p in plans for w in p.writes if w.kind == "utm"] == [
        {"rs_utm_source": "google"},
        {"rs_utm_source": "fb"},
    ]


@pytest.mark.parametrize("mode", ["enrich_leads", "enrich_contacts_deals"])
@pytest.mark.parametrize(
    ("fallback", "minutes_after_end", "status", "reason", "modules"),
    [
        ("create", 0, PlanStatus.DEFERRED, "enrich_waiting", []),
        ("create", 29, PlanStatus.DEFERRED, "enrich_waiting", []),
        ("create", 30, PlanStatus.PLANNED, None, ["Leads", "Tasks"]),  # act as default
        ("skip", 29, PlanStatus.DEFERRED, "enrich_waiting", []),
        ("skip", 30, PlanStatus.SKIPPED, "enrich_no_entity", []),
        ("skip", 600, PlanStatus.SKIPPED, "enrich_no_entity", []),
    ],
)
def test_enrich_deferral_and_fallbacks(
    mode: str,
    fallback: str,
    minutes_after_end: int,
    status: PlanStatus,
    reason: str | None,
    modules: list[str],
) -> None:
    cfg = settings(mode=mode, enrich_fallback=fallback)
    c = call(employee="anna_sip", config=cfg, **UTM)
    p = plan_one(c, config=cfg, now=END + timedelta(minutes=minutes_after_end))
    assert (p.status, p.reason) == (status, reason)
    assert [w.module for w in p.writes] == modules
    assert p.client_status == "new"
    if status is PlanStatus.PLANNED:
        assert p.row == 1 and p.writes[0].fields["rs_utm_source"] == "google"


def test_enrich_grace_is_configurable() -> None:
    cfg = settings(mode="enrich_leads", enrich_grace_minutes=0)
    p = plan_one(call(config=cfg), config=cfg, now=END)
    assert p.status is PlanStatus.PLANNED


def test_enrich_skip_rows_do_not_wait() -> None:
    cfg = settings(mode="enrich_leads")
    p = plan_one(call(direction="out", employee="anna_sip", config=cfg), config=cfg, now=END)
    assert (p.status, p.reason) == (PlanStatus.SKIPPED, "outbound_no_entity")


def test_enrich_deferred_earlier_call_and_fallback_later_call_share_one_lead() -> None:
    cfg = settings(mode="enrich_leads", enrich_grace_minutes=30)
    long_call = call("a", config=cfg, duration=3600)  # ends 11:00 Kyiv
    short_call = call("b", config=cfg, when="2026-01-18 10:05:00", duration=10)
    plans = plan([long_call, short_call], config=cfg, now=datetime(2026, 1, 18, 8, 40, tzinfo=UTC))
    assert [(p.uniqueid, p.status) for p in plans] == [
        ("a", PlanStatus.DEFERRED),
        ("b", PlanStatus.PLANNED),
    ]
    assert sum(w.module == "Leads" for p in plans for w in p.writes) == 1


# --- recording updates (SPEC 9) -----------------------------------------------------------------


def test_recording_updates_for_synced_tasks_and_calls() -> None:
    cfg = settings()
    c = call(client=KNOWN, employee="anna_sip", recording="https://rec/late.mp3")
    crm = CrmSnapshot.build(USERS, [lead()])
    emap = EmployeeMap.build(cfg.employees, USERS, cfg.scenario)
    synced = [
        ("c1/task", "Tasks", "T-1"),
        ("c1/task-responsible", "Tasks", "T-2"),
        ("c1/call", "Calls", "K-1"),
        ("c1/lead", "Leads", "L-9"),  # not a call record: ignored
    ]
    writes = plan_recording_updates(c, synced, cfg, emap, crm)
    tag = hashlib.sha1(b"https://rec/late.mp3").hexdigest()[:8]
    assert [(w.sync_key, w.module, w.op, w.record_id) for w in writes] == [
        (f"c1/task#recording-{tag}", "Tasks", "update", "T-1"),
        (f"c1/task-responsible#recording-{tag}", "Tasks", "update", "T-2"),
        (f"c1/call#recording-{tag}", "Calls", "update", "K-1"),
    ]
    # a recording that changes again is a new write; the same one read again is not
    again = plan_recording_updates(c, synced, cfg, emap, crm)
    assert [w.sync_key for w in again] == [w.sync_key for w in writes]
    moved = replace(c, recording_url="https://rec/later.mp3")
    assert not {w.sync_key for w in writes} & {
        w.sync_key for w in plan_recording_updates(moved, synced, cfg, emap, crm)
    }
    assert all(w.owner_id == ANNA.id and "Owner" not in w.fields for w in writes)
    assert "Recording: https://rec/late.mp3" in writes[0].fields["Description"]
    assert set(writes[0].fields) == {"Description"}
    assert writes[2].fields["Voice_Recording__s"] == "https://rec/late.mp3"
    # the description is the one the planner writes for this call
    planned = plan_one(c, [lead()], cfg).writes[0].fields["Description"]
    assert writes[0].fields["Description"] == planned


def test_recording_updates_need_a_recording_and_fall_back_to_top() -> None:
    cfg = settings()
    crm = CrmSnapshot.build(USERS, [])
    emap = EmployeeMap.build(cfg.employees, USERS, cfg.scenario)
    assert plan_recording_updates(call(), [("c1/task", "Tasks", "T")], cfg, emap, crm) == []
    c = call(disposition="VOICEMAIL", recording_wav="https://rec/v.wav")
    (w,) = plan_recording_updates(c, [("c1/task", "Tasks", "T")], cfg, emap, crm)
    assert w.owner_id == TOP.id and "Voicemail: https://rec/v.wav" in w.fields["Description"]


# --- determinism --------------------------------------------------------------------------------


def test_planning_is_deterministic_under_input_order() -> None:
    calls = [
        call("a", client=KNOWN, employee="anna_sip"),
        call("b", when="2026-01-18 10:01:00", disposition="NO ANSWER"),
        call("c", when="2026-01-18 10:02:00", employee="anna_sip"),
        call("d", when="2026-01-18 10:01:00", direction="out", client=KNOWN, employee="ghost"),
    ]
    records = [lead(), contact("C-7", "+380931112233")]
    expected = [p.to_json() for p in plan(calls, records)]
    rng = random.Random(7)
    for _ in range(5):
        shuffled = calls[:]
        rng.shuffle(shuffled)
        assert [p.to_json() for p in plan(shuffled, list(reversed(records)))] == expected


def test_every_write_has_an_owner_and_a_sync_key() -> None:
    cfg = settings(log_calls=True)
    calls = [
        call(f"u{i}", config=cfg, when=f"2026-01-18 10:0{i}:00", **kw)
        for i, kw in enumerate(
            [
                {"employee": "anna_sip"},
                {"disposition": "NO ANSWER", "client": KNOWN},
                {"direction": "out", "employee": "ghost", "client": KNOWN},
                {"disposition": "VOICEMAIL", "client": "+380931112233"},
            ]
        )
    ]
    writes = [w for p in plan(calls, [lead()], cfg) for w in p.writes]
    assert writes
    for w in writes:
        assert w.owner_id in {u.id for u in USERS if u.active}
        # inserts carry their key into Zoho; updates (a call-back completed) are keyed in the
        # ledger only
        assert w.sync_key and w.fields.get("rs_sync_key") == (
            w.sync_key if w.op == "insert" else None
        )
    assert len({w.sync_key for w in writes}) == len(writes)


def test_snapshot_without_users_fails_on_top_manager() -> None:
    cfg = settings()
    with pytest.raises(TopManagerError):
        plan_calls(
            [call()],
            CrmSnapshot.build([], []),
            EmployeeMap.build((), [], cfg.scenario),
            cfg,
            now=NOW,
        )


# --- closed deals: Zoho's stage metadata, not a fixed list ------------------------------------


@pytest.mark.parametrize(
    ("stage", "closed_stages", "attached"),
    [
        ("Qualification", None, ("Deals", "D-1")),
        ("Closed Won", None, ("Contacts", "C-1")),
        ("Closed Lost", None, ("Contacts", "C-1")),
        # Zoho's third default closed stage, as users see it and as the API stores it
        ("Closed-Lost to Competition", None, ("Contacts", "C-1")),
        ("Closed Lost to Competition", None, ("Contacts", "C-1")),
        ("closed  lost", None, ("Contacts", "C-1")),
        # an org's own closed stage counts once the metadata says so
        ("Lost - no budget", None, ("Deals", "D-1")),
        ("Lost - no budget", {"Closed Won", "Lost - no budget"}, ("Contacts", "C-1")),
        # ... and the metadata decides: a stage the org reopened is open
        ("Closed Lost", {"Closed Won"}, ("Deals", "D-1")),
    ],
)
def test_open_deals_by_the_orgs_closed_stages(
    stage: str, closed_stages: set[str] | None, attached: tuple[str, str]
) -> None:
    # was: "Closed-Lost to Competition" and custom closed stages counted as open deals, the call
    # attached to them and their owner got the task
    records = [contact("C-1", owner=ANNA.id), deal("D-1", "C-1", stage=stage)]
    p = plan([call(client=KNOWN, disposition="BUSY")], records, closed_stages=closed_stages)[0]
    assert p.attachment is not None
    assert (p.attachment.module, p.attachment.id) == attached


def test_snapshot_defaults_to_zohos_closed_stages() -> None:
    snap = CrmSnapshot.build(USERS, [])
    assert snap.closed_stages == ZOHO_DEFAULT_CLOSED_STAGES
    assert "Closed-Lost to Competition" in snap.closed_stages
    lost = deal("D-9", stage="Closed-Lost to Competition")
    assert not snap.is_open_deal(lost) and not lost.is_open_deal
    custom = CrmSnapshot.build(USERS, [], closed_stages=["Lost - no budget"])
    assert not custom.is_open_deal(deal("D-8", stage="lost - NO budget"))
    assert not custom.is_open_deal(contact("C-9"))


# --- working hours: deadlines and reminders -----------------------------------------------------

OFFICE = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
ZOHO_OFFICE = WorkingHours.weekly(("mon", "tue", "wed", "thu", "fri"), 540, 1080, source="zoho")


@pytest.mark.parametrize(
    ("when", "duration", "config_hours", "zoho_hours", "trigger"),
    [
        # no working hours anywhere: 24×7, the call end + 4 h (the 23:32 and 05:02)
        ("2026-01-16 19:30:00", 120, None, None, "2026-01-16T23:32:00+02:00"),
        ("2026-01-19 01:00:00", 120, None, None, "2026-01-19T05:02:00+02:00"),
        # Mon–Fri 09–18 from the config: Friday evening → Monday 13:00, a night call → 13:00
        ("2026-01-16 19:30:00", 0, OFFICE, None, "2026-01-19T13:00:00+02:00"),
        ("2026-01-16 19:30:00", 120, OFFICE, None, "2026-01-19T13:00:00+02:00"),
        ("2026-01-19 01:00:00", 120, OFFICE, None, "2026-01-19T13:00:00+02:00"),
        ("2026-01-19 16:00:00", 0, OFFICE, None, "2026-01-20T11:00:00+02:00"),
        # the same hours from Zoho's Business Hours settings
        ("2026-01-16 19:30:00", 0, None, ZOHO_OFFICE, "2026-01-19T13:00:00+02:00"),
        # the config wins over Zoho's
        ("2026-01-16 19:30:00", 0, {**OFFICE, "days": ["sat"]}, ZOHO_OFFICE, "2026-01-17T13:00:00+02:00"),
        # across the clock changes: Monday's offset
        ("2026-03-27 19:30:00", 0, OFFICE, None, "2026-03-30T13:00:00+03:00"),
        ("2026-10-23 17:00:00", 0, OFFICE, None, "2026-10-26T12:00:00+02:00"),
    ],
)  # fmt: skip
def test_open_task_deadline_in_working_hours(
    when: str,
    duration: int,
    config_hours: dict[str, Any] | None,
    zoho_hours: WorkingHours | None,
    trigger: str,
) -> None:
    cfg = settings(business_hours=config_hours)
    c = call(client=KNOWN, disposition="NO ANSWER", when=when, duration=duration, config=cfg)
    (task,) = plan([c], [lead()], cfg, now=c.ended_at, hours=zoho_hours)[0].writes
    deadline = datetime.fromisoformat(trigger)
    assert task.due_at == deadline
    assert task.fields["Remind_At"] == {
        "ALARM": f"FREQ=NONE;ACTION=POPUP;TRIGGER=DATE-TIME:{trigger}"
    }
    assert task.fields["Due_Date"] == trigger[:10]  # Due_Date follows the deadline
    hours = effective_hours(cfg.scenario, zoho_hours)
    assert within_hours(deadline, hours, ZoneInfo("Europe/Kyiv"))  # the reminder too


def test_log_tasks_keep_the_call_day_and_row_4_counts_working_hours() -> None:
    cfg = settings(business_hours=OFFICE)
    c = call(client=KNOWN, employee="anna_sip", when="2026-01-16 17:00:00", duration=0, config=cfg)
    log, responsible = plan([c], [lead()], cfg, now=c.ended_at)[0].writes
    assert log.fields["Due_Date"] == "2026-01-16" and "Remind_At" not in log.fields
    assert responsible.due_at == datetime(2026, 1, 19, 12, 0, tzinfo=ZoneInfo("Europe/Kyiv"))


# --- who calls back ---------------------------------------------------------------------------


def _row7(owner: str, **scenario: Any) -> Settings:
    task = {"status": "open", "owner": owner, "subject": "Call back {phone}"}
    return settings(rows={7: {"tasks": [task]}}, **scenario)


@pytest.mark.parametrize(
    ("owner_rule", "record_owner", "scenario", "owner"),
    [
        ("top", PETRO.id, {}, TOP.id),  # the default of rows 6–9
        ("responsible", PETRO.id, {}, PETRO.id),  # the client's manager, active
        ("responsible", GONE.id, {"inactive_owner": "leave"}, TOP.id),  # inactive → TOP
        ("responsible", GONE.id, {}, TOP.id),  # handed to TOP, who is then responsible
        ("employee", PETRO.id, {}, TOP.id),  # a missed call has no employee
        ("rotation", PETRO.id, {"rotation": {"employees": ["anna@example.com"]}}, ANNA.id),
    ],
)
def test_who_calls_back(
    owner_rule: str, record_owner: str, scenario: dict[str, Any], owner: str
) -> None:
    cfg = _row7(owner_rule, **scenario)
    p = plan_one(
        call(client=KNOWN, disposition="BUSY", config=cfg), [lead(owner=record_owner)], cfg
    )
    assert p.row == 7
    assert [w.owner_id for w in p.writes if w.kind == "open_task"] == [owner]


def _batch(
    calls: list[Any], cfg: Settings, turn: RotationTurn | None = None, **kw: Any
) -> PlannedBatch:
    crm = CrmSnapshot.build(USERS, [lead()])
    employees = EmployeeMap.build(cfg.employees, USERS, cfg.scenario)
    return plan_batch(calls, crm, employees, cfg, now=NOW, rotation=turn, **kw)


def test_rotation_takes_turns_and_hands_the_turn_back() -> None:
    # each missed call its own call-back (merging would give one client one task)
    cfg = _row7(
        "rotation",
        merge_callbacks=False,
        rotation={"employees": ["anna@example.com", "u-petro", "gone@example.com"]},
    )
    calls = [
        call(f"m{i}", client=KNOWN, disposition="BUSY", when=f"2026-01-16 10:0{i}:00", config=cfg)
        for i in range(5)
    ]
    first = _batch(calls[:3], cfg)
    owners = [w.owner_id for p in first.plans for w in p.writes]
    assert owners == [ANNA.id, PETRO.id, ANNA.id]  # the inactive user is skipped
    assert first.rotation == RotationTurn(last_user_id=ANNA.id)
    # the next run goes on from the turn it is given: fair over time, not per run
    second = _batch(calls[3:], cfg, first.rotation)
    assert [w.owner_id for p in second.plans for w in p.writes] == [PETRO.id, ANNA.id]
    # a turn naming someone no longer in the list starts from the top
    third = _batch(calls[3:4], cfg, RotationTurn(last_user_id="u-stranger"))
    assert [w.owner_id for p in third.plans for w in p.writes] == [ANNA.id]


def test_rotation_skips_who_is_outside_their_working_hours() -> None:
    cfg = _row7(
        "rotation",
        merge_callbacks=False,
        business_hours=OFFICE,
        rotation={
            "employees": ["anna@example.com", "petro@example.com"],
            "shifts": {
                "anna@example.com": {"days": ["mon", "tue", "wed", "thu", "fri"], "end": "13:00"},
                "petro@example.com": {
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "13:00",
                },
            },
        },
    )

    def owners(*whens: str) -> list[str]:
        calls = [
            call(f"m{i}", client=KNOWN, disposition="BUSY", when=w, duration=0, config=cfg)
            for i, w in enumerate(whens)
        ]
        return [w.owner_id for p in _batch(calls, cfg).plans for w in p.writes]

    assert owners("2026-01-16 10:00:00", "2026-01-16 10:30:00") == [ANNA.id, ANNA.id]
    assert owners("2026-01-16 14:00:00", "2026-01-16 14:30:00") == [PETRO.id, PETRO.id]
    assert owners("2026-01-16 12:00:00", "2026-01-16 14:00:00") == [ANNA.id, PETRO.id]
    # nobody on shift (Friday evening): whoever starts first — Anna, Monday 09:00
    assert owners("2026-01-16 19:30:00", "2026-01-16 19:40:00") == [ANNA.id, ANNA.id]


def test_rotation_gives_one_call_one_person() -> None:
    cfg = settings(
        rows={6: {"lead_owner": "rotation", "tasks": [{"status": "open", "owner": "rotation"}]}},
        rotation={"employees": ["anna@example.com", "petro@example.com"]},
    )
    calls = [call("a", disposition="BUSY"), call("b", client="+380631112233", disposition="BUSY")]
    result = _batch(calls, cfg)
    assert [[w.owner_id for w in p.writes] for p in result.plans] == [
        [ANNA.id, ANNA.id],
        [PETRO.id, PETRO.id],
    ]


def test_rotation_with_nobody_active_falls_back_to_top() -> None:
    cfg = _row7("rotation", rotation={"employees": ["gone@example.com", "nobody@example.com"]})
    p = plan_one(call(client=KNOWN, disposition="BUSY", config=cfg), [lead()], cfg)
    assert [w.owner_id for w in p.writes] == [TOP.id]


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"rows": {7: {"tasks": [{"status": "open", "owner": "rotation"}]}}}, r"rows \[7\] give work to the rotation"),
        ({"rows": {6: {"lead_owner": "rotation"}}}, r"rows \[6\] give work to the rotation"),
        ({"rotation": {"employees": ["a@x"], "shifts": {"b@x": {}}}}, r"shifts for \['b@x'\]"),
        ({"rows": {7: {"tasks": [{"status": "open", "owner": "somebody"}]}}}, "scenario.rows.7.tasks.0.owner"),
    ],
)  # fmt: skip
def test_who_calls_back_config_errors(scenario: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides={"scenario": scenario})


# --- transfers: the pickup's employee owns the lead ------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "row", "owners", "transfer_line"),
    [
        # Anna picked up (the receiver created the lead for her), then passed the call to Petro
        ("anna_sip", "petro_sip", 1, [ANNA.id, PETRO.id], "answered first by Anna Ivanova, then by Petro Shevchenko"),
        # the one who ended it is unmapped: the lead stays Anna's, the open task is TOP's
        ("anna_sip", "ghost_sip", 2, [ANNA.id, TOP.id], "answered first by Anna Ivanova, then by ghost_sip"),
        # an unmapped first answerer: the pickup gave the lead to TOP
        ("ghost_sip", "anna_sip", 1, [TOP.id, ANNA.id], "answered first by ghost_sip (not in the employee map), then by Anna Ivanova"),
        # no transfer: one employee from pickup to hang-up, no extra line
        ("anna_sip", "anna_sip", 1, [ANNA.id, ANNA.id], None),
        ("sip:anna_sip@pbx", "anna_sip", 1, [ANNA.id, ANNA.id], None),
        ("ghost_sip", "ghost_sip", 2, [TOP.id, TOP.id], None),
    ],
)  # fmt: skip
def test_transferred_call_lead_owner_and_description(
    first: str, last: str, row: int, owners: list[str], transfer_line: str | None
) -> None:
    # was: the lead's owner depended on the path that wrote it (pickup: first; log: last)
    (c,) = with_first_answerers([call(employee=last)], {"c1": first})
    p = plan_one(c)
    assert p.row == row
    assert [w.owner_id for w in p.writes] == owners
    lines = [ln for ln in p.writes[1].fields["Description"].splitlines() if "Transferred" in ln]
    assert lines == ([] if transfer_line is None else [f"Transferred: {transfer_line}"])


def test_transfer_on_an_existing_client_only_names_both() -> None:
    (c,) = with_first_answerers([call(client=KNOWN, employee="petro_sip")], {"c1": "anna_sip"})
    p = plan_one(c, [lead()])
    assert (p.row, [w.owner_id for w in p.writes]) == (3, [PETRO.id])
    assert (
        "Transferred: answered first by Anna Ivanova, then by Petro Shevchenko"
        in p.writes[0].fields["Description"]
    )


def test_first_answerers_apply_by_uniqueid_only() -> None:
    a, b = call("a"), call("b")
    marked = with_first_answerers([a, b], {"b": "anna_sip", "zzz": "petro_sip", "a": ""})
    assert [c.first_answered_by for c in marked] == [None, "anna_sip"]
