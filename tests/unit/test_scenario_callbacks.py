"""Call-backs that finish themselves, planned (pure): one open call-back per client, merged
lines, completion by a later answered call, the claimed leads of another path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scenario_world import ANNA, KNOWN, NEW, TOP, USERS, call, lead, settings

from models.call import Call, Phone
from models.crm import ClaimedLead, CrmSnapshot, OpenCallback, ReachedCall
from models.plan import CallPlan, RotationTurn
from models.settings import Settings
from tasks.employees import EmployeeMap
from tasks.scenario import PlannerMemory, plan_batch

NOW = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)
KNOWN_PHONE = Phone(KNOWN, KNOWN, KNOWN[-9:], 380, True)
POLISH = Phone("+48671112233", "+48671112233", KNOWN[-9:], 48, True)


def _plan(calls: list[Call], cfg: Settings | None = None, **snapshot: Any) -> list[CallPlan]:
    cfg = cfg or settings()
    crm = CrmSnapshot.build(USERS, [lead()], **snapshot)
    employees = EmployeeMap.build(cfg.employees, USERS, cfg.scenario)
    return plan_batch(calls, crm, employees, cfg, now=NOW, memory=PlannerMemory()).plans


def _open(phone: Phone = KNOWN_PHONE, task_id: str | None = "T-1") -> OpenCallback:
    return OpenCallback(
        phone=phone,
        task_key="old/task",
        task_id=task_id,
        owner_id=TOP.id,
        description="first call",
        calls=1,
        opened_at=datetime(2026, 1, 18, 7, 0, tzinfo=UTC),
    )


def test_a_missed_call_of_a_client_with_an_open_call_back_adds_a_line() -> None:
    [p] = _plan(
        [call("m2", client=KNOWN, disposition="VOICEMAIL", recording="https://r/v.mp3")],
        callbacks=[_open()],
    )
    [w] = p.writes
    assert (w.op, w.kind, w.record_id, w.sync_key) == ("update", "callback_merge", "T-1", "m2/task")
    assert w.fields == {
        "Description": "first call\nCall 2: voicemail at 2026-01-18 10:00:00 (VOICEMAIL), "
        "voicemail: https://r/v.mp3"
    }


def test_another_countrys_client_sharing_nine_digits_gets_its_own_call_back() -> None:
    [p] = _plan([call("m2", client=KNOWN, disposition="BUSY")], callbacks=[_open(POLISH)])
    assert [(w.op, w.kind) for w in p.writes] == [("insert", "open_task")]


def test_a_merge_spends_no_turn_of_the_rotation() -> None:
    cfg = settings(
        rows={7: {"tasks": [{"status": "open", "owner": "rotation"}]}},
        rotation={"employees": ["anna@example.com", "petro@example.com"]},
    )
    crm = CrmSnapshot.build(USERS, [lead()], callbacks=[_open()])
    employees = EmployeeMap.build(cfg.employees, USERS, cfg.scenario)
    turn = RotationTurn(last_user_id=ANNA.id)
    batch = plan_batch(
        [call("m2", client=KNOWN, disposition="BUSY", config=cfg)],
        crm,
        employees,
        cfg,
        now=NOW,
        rotation=turn,
    )
    assert batch.rotation == turn


def test_only_an_answered_call_after_the_call_back_completes_it() -> None:
    later, earlier = (
        call("a2", client=KNOWN, employee="anna_sip", when="2026-01-18 10:00:00"),
        call("a0", client=KNOWN, employee="anna_sip", when="2026-01-18 08:30:00"),
    )
    done = [w for p in _plan([later], callbacks=[_open()]) for w in p.writes]
    assert [w.kind for w in done if w.op == "update"] == ["callback_done"]
    assert done[-1].fields["Description"].endswith("Reached by Anna Ivanova at 2026-01-18 10:00:00")
    not_yet = [w for p in _plan([earlier], callbacks=[_open()]) for w in p.writes]
    assert [w.kind for w in not_yet] == ["log_task", "open_task"]  # rows 4's tasks only


def test_switches() -> None:
    merge_off = _plan(
        [call("m2", client=KNOWN, disposition="BUSY")],
        settings(merge_callbacks=False),
        callbacks=[_open()],
    )
    assert [(w.op, w.kind) for p in merge_off for w in p.writes] == [("insert", "open_task")]
    complete_off = _plan(
        [call("a2", client=KNOWN, employee="anna_sip")],
        settings(complete_callbacks=False),
        callbacks=[_open()],
    )
    assert "callback_done" not in [w.kind for p in complete_off for w in p.writes]


def test_a_missed_call_handled_after_the_call_that_reached_the_client_is_born_completed() -> None:
    reached = ReachedCall(KNOWN_PHONE, "a9", datetime(2026, 1, 18, 9, 0, tzinfo=UTC), ANNA.id, None)
    [p] = _plan([call("m1", client=KNOWN, disposition="BUSY")], reached=[reached])
    [w] = p.writes
    assert (w.op, w.kind, w.fields["Status"]) == ("insert", "callback_reached", "Completed")
    assert w.fields["Description"].endswith("Reached by Anna Ivanova at 2026-01-18 11:00:00")


def test_a_number_another_path_is_creating_a_lead_for_attaches_to_that_lead() -> None:
    phone = Phone(NEW, NEW, NEW[-9:], 380, True)
    claimed = ClaimedLead(phone, "other/lead", ANNA.id)
    [p] = _plan([call("c1", client=NEW, employee="anna_sip")], claimed=[claimed])
    assert p.client_status == "existing" and p.attachment is not None
    assert p.attachment.planned_key == "other/lead"
    assert [w.kind for w in p.writes] == ["log_task"]
    assert p.writes[0].links == {"What_Id": "other/lead"}
    # the call's own claim is its own lead to create
    own = ClaimedLead(phone, "c1/lead", ANNA.id)
    [mine] = _plan([call("c1", client=NEW, employee="anna_sip")], claimed=[own])
    assert [w.kind for w in mine.writes] == ["lead", "log_task"]
