"""The assignment suite: planned writes that follow SPEC 6 pass; each broken rule names its call."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from expectations.assignment import assignment_frame, validate_plans
from expectations.runner import GxRunner, SuiteOutcome
from models.call import Call, Direction, Outcome, Phone
from models.hours import WorkingHours
from models.plan import CallPlan, PlannedWrite, PlanStatus
from models.settings import Settings

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
END = T0 + timedelta(seconds=60)
DUE = END + timedelta(hours=4)
TOP, ANNA, BORIS, GONE = "u-top", "u-anna", "u-boris", "u-gone"
ACTIVE = {TOP, ANNA, BORIS}
SETTINGS = Settings()


def call(uniqueid: str) -> Call:
    return Call(
        uniqueid=uniqueid,
        started_at=T0,
        ended_at=END,
        direction=Direction.INBOUND,
        outcome=Outcome.ANSWERED,
        disposition="ANSWERED",
        call_type="in",
        client=Phone("+380501112233", "+380501112233", "501112233", 380, True),
        duration=60,
        billsec=50,
        employee_ids=(),
        employee_label="anna_sip",
    )


def lead(uid: str, owner: str) -> PlannedWrite:
    return PlannedWrite(f"{uid}/lead", "Leads", "insert", {"Last_Name": "x"}, owner, kind="lead")


def log_task(uid: str, owner: str, status: str | None = "Completed") -> PlannedWrite:
    fields = {"Subject": "s"} | ({"Status": status} if status else {})
    return PlannedWrite(f"{uid}/task", "Tasks", "insert", fields, owner, kind="log_task")


def open_task(
    uid: str,
    owner: str,
    due: datetime | None = DUE,
    status: str = "Not Started",
    slot: str = "task",
) -> PlannedWrite:
    return PlannedWrite(
        f"{uid}/{slot}",
        "Tasks",
        "insert",
        {"Subject": "s", "Status": status},
        owner,
        kind="open_task",
        due_at=due,
    )


def utm_update(uid: str, owner: str) -> PlannedWrite:
    return PlannedWrite(
        f"{uid}/utm-lead", "Leads", "update", {"rs_utm_source": "g"}, owner, "L1", kind="utm"
    )


def plan(uid: str, row: int, *writes: PlannedWrite) -> CallPlan:
    status = PlanStatus.PLANNED if writes or row not in (10, 13) else PlanStatus.SKIPPED
    return CallPlan(
        uniqueid=uid,
        status=status,
        row=row,
        reason=None if status is PlanStatus.PLANNED else "outbound_no_entity",
        client_status="new",
        attachment=None,
        ambiguous=False,
        employee_user_id=ANNA,
        writes=tuple(writes),
    )


def good_plans() -> list[CallPlan]:
    return [
        plan("r1", 1, lead("r1", ANNA), log_task("r1", ANNA)),
        plan("r2", 2, lead("r2", TOP), open_task("r2", TOP)),
        plan("r3", 3, log_task("r3", BORIS)),
        plan("r4", 4, log_task("r4", ANNA), open_task("r4", BORIS, slot="task-responsible")),
        plan("r5", 5, open_task("r5", TOP)),
        plan("r6", 6, lead("r6", TOP), open_task("r6", TOP)),
        plan("r7", 7, open_task("r7", TOP)),
        plan("r8", 8, lead("r8", TOP), open_task("r8", TOP)),
        plan("r9", 9, open_task("r9", TOP)),
        plan("r10", 10),
        plan("r11", 11, log_task("r11", ANNA)),
        plan("r12", 12, open_task("r12", TOP)),
        plan("r13", 13),
        # An update keeps the record's owner, who may have left: not an assignment.
        plan("u1", 3, utm_update("u1", GONE), log_task("u1", ANNA)),
    ]


def calls_for(plans: Sequence[CallPlan]) -> dict[str, Call]:
    return {p.uniqueid: call(p.uniqueid) for p in plans}


def run(
    runner: GxRunner,
    plans: Sequence[CallPlan],
    settings: Settings = SETTINGS,
    calls: dict[str, Call] | None = None,
) -> SuiteOutcome:
    return validate_plans(
        runner,
        plans,
        calls_for(plans) if calls is None else calls,
        active_user_ids=ACTIVE,
        top_manager_id=TOP,
        settings=settings,
    )


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GxRunner]:
    yield GxRunner(tmp_path_factory.mktemp("gx_docs_assignment"))


def test_the_default_matrix_passes(runner: GxRunner) -> None:
    outcome = run(runner, good_plans())
    assert outcome.failed == {}
    assert outcome.success
    assert outcome.statistics["evaluated_expectations"] == 6


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            plan("b", 1, lead("b", ANNA), log_task("b", GONE)),
            "expect_column_values_to_be_in_set:assigned_owner",
        ),
        (plan("b", 3, log_task("b", "nobody")), "expect_column_values_to_be_in_set:assigned_owner"),
        (
            plan("b", 2, lead("b", ANNA), open_task("b", TOP)),
            "expect_column_values_to_be_in_set:top_owned_owner",
        ),
        (
            plan("b", 6, lead("b", TOP), open_task("b", ANNA)),
            "expect_column_values_to_be_in_set:top_owned_owner",
        ),
        (
            plan("b", 8, lead("b", BORIS), open_task("b", TOP)),
            "expect_column_values_to_be_in_set:top_owned_owner",
        ),
        (plan("b", 7, open_task("b", BORIS)), "expect_column_values_to_be_in_set:top_owned_owner"),
        (plan("b", 12, open_task("b", ANNA)), "expect_column_values_to_be_in_set:top_owned_owner"),
        (
            plan("b", 9, open_task("b", TOP, due=DUE - timedelta(hours=1))),
            "expect_column_pair_values_to_be_equal:due_at_utc,expected_due_utc",
        ),
        (
            plan(
                "b",
                4,
                log_task("b", ANNA),
                open_task("b", BORIS, due=None, slot="task-responsible"),
            ),
            "expect_column_pair_values_to_be_equal:due_at_utc,expected_due_utc",
        ),
        (
            plan("b", 11, log_task("b", ANNA, status="Not Started")),
            "expect_column_values_to_be_in_set:log_task_status",
        ),
        (
            plan("b", 11, log_task("b", ANNA, status=None)),
            "expect_column_values_to_be_in_set:log_task_status",
        ),
        (
            plan("b", 5, open_task("b", TOP, status="Completed")),
            "expect_column_values_to_be_in_set:open_task_status",
        ),
        (plan("b", 10, log_task("b", ANNA)), "expect_column_values_to_be_in_set:silent_row_writes"),
        (plan("b", 13, open_task("b", TOP)), "expect_column_values_to_be_in_set:silent_row_writes"),
    ],
)
def test_each_rule_names_the_failing_call(runner: GxRunner, bad: CallPlan, expected: str) -> None:
    outcome = run(runner, [*good_plans(), bad])
    assert not outcome.success
    assert outcome.failed == {"b": expected}


def test_a_call_missing_from_calls_by_id_fails_its_deadline(runner: GxRunner) -> None:
    plans = good_plans()
    calls = calls_for(plans)
    del calls["r7"]
    assert run(runner, plans, calls=calls).failed == {
        "r7": "expect_column_pair_values_to_be_equal:due_at_utc,expected_due_utc"
    }


def test_deadline_follows_open_task_due_hours(runner: GxRunner) -> None:
    two_hours = Settings(scenario={"open_task_due_hours": 2})
    plans = [plan("r7", 7, open_task("r7", TOP, due=END + timedelta(hours=2)))]
    assert run(runner, plans, settings=two_hours).success
    assert not run(runner, plans).success


def test_deadline_is_compared_to_the_second(runner: GxRunner) -> None:
    plans = [plan("r7", 7, open_task("r7", TOP, due=DUE + timedelta(microseconds=400)))]
    assert run(runner, plans).success


def test_overridden_rows_skip_the_top_and_silent_rules(runner: GxRunner) -> None:
    overrides = Settings(
        scenario={
            "rows": {
                "6": {"lead_owner": "employee"},
                "10": {"tasks": [{"status": "log", "owner": "employee"}]},
            }
        }
    )
    plans = [
        plan("r6", 6, lead("r6", ANNA), open_task("r6", ANNA)),
        plan("r10", 10, log_task("r10", ANNA)),
    ]
    assert run(runner, plans, settings=overrides).success
    assert set(run(runner, plans).failed) == {"r6", "r10"}
    # Other rows keep their rule under someone else's override.
    assert run(runner, [plan("r7", 7, open_task("r7", ANNA))], settings=overrides).failed == {
        "r7": "expect_column_values_to_be_in_set:top_owned_owner"
    }


def test_first_rule_in_suite_order_wins_per_call(runner: GxRunner) -> None:
    # Inactive owner on the lead AND a wrong status on the task of the same call.
    bad = plan("b", 1, lead("b", GONE), log_task("b", ANNA, status="Deferred"))
    other = plan("o", 5, open_task("o", TOP, status="In Progress"))
    outcome = run(runner, [bad, other])
    assert outcome.failed == {
        "b": "expect_column_values_to_be_in_set:assigned_owner",
        "o": "expect_column_values_to_be_in_set:open_task_status",
    }


def test_frame_rows_and_rule_columns() -> None:
    plans = [
        plan("r6", 6, lead("r6", TOP), open_task("r6", TOP)),
        plan("r13", 13),
        plan("u1", 3, utm_update("u1", GONE), log_task("u1", ANNA)),
    ]
    frame = assignment_frame(
        plans, calls_for(plans), active_user_ids=ACTIVE, top_manager_id=TOP, settings=SETTINGS
    )
    rows: list[dict[str, Any]] = frame.to_dict("records")
    assert [(r["uniqueid"], r["kind"]) for r in rows] == [
        ("r6", "lead"),
        ("r6", "open_task"),
        ("r13", "(call)"),
        ("u1", "utm"),
        ("u1", "log_task"),
    ]
    lead_row, task_row, silent, utm, log = rows
    assert lead_row["top_owned_owner"] == TOP
    assert task_row["expected_due_utc"].to_pydatetime() == DUE.replace(tzinfo=None)
    assert silent["silent_row_writes"] == 0
    assert pd.isna(utm["assigned_owner"]) and utm["owner_id"] == GONE
    assert log["log_task_status"] == "Completed" and pd.isna(log["open_task_status"])


def test_no_plans_pass(runner: GxRunner) -> None:
    assert run(runner, []).success


def test_plan_is_frozen_data() -> None:
    # The frame is built from the plan objects as given: nothing in them is mutated.
    p = plan("r1", 1, lead("r1", ANNA), log_task("r1", ANNA))
    copy = dataclasses.replace(p)
    assignment_frame(
        [p], calls_for([p]), active_user_ids=ACTIVE, top_manager_id=TOP, settings=SETTINGS
    )
    assert p == copy


def test_frame_expects_deadlines_in_working_hours() -> None:
    # T0 is Friday 1 March 2024, 11:00 in Kyiv; the call ends 11:01. Four working hours of
    # Mon–Fri 09:00–18:00 end at 15:01 that day. With Fridays 09:00–12:00 only: 59 minutes that
    # day, 3 hours on 8 March, the last minute on 15 March: 09:01 Kyiv.
    weekdays = Settings(scenario={"business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"]}})
    plans = [plan("r7", 7, open_task("r7", TOP))]

    def expected(settings: Settings, hours: WorkingHours | None = None) -> datetime:
        frame = assignment_frame(
            plans,
            calls_for(plans),
            active_user_ids=ACTIVE,
            top_manager_id=TOP,
            settings=settings,
            hours=hours,
        )
        due: datetime = frame.to_dict("records")[0]["expected_due_utc"].to_pydatetime()
        return due.replace(tzinfo=UTC)

    assert expected(SETTINGS) == DUE  # no hours anywhere: 24×7
    assert expected(weekdays) == datetime(2024, 3, 1, 13, 1, tzinfo=UTC)  # 15:01 Kyiv
    fridays = WorkingHours.weekly(("fri",), 9 * 60, 12 * 60, source="zoho")
    assert expected(SETTINGS, fridays) == datetime(2024, 3, 15, 7, 1, tzinfo=UTC)
    assert expected(weekdays, fridays) == expected(weekdays)  # the config wins


def test_frame_leaves_a_transferred_calls_lead_to_the_first_answerer() -> None:
    plans = [plan("r2", 2, lead("r2", ANNA), open_task("r2", TOP))]
    calls = {"r2": dataclasses.replace(call("r2"), first_answered_by="anna_sip")}
    frame = assignment_frame(
        plans, calls, active_user_ids=ACTIVE, top_manager_id=TOP, settings=SETTINGS
    )
    lead_row, task_row = frame.to_dict("records")
    assert pd.isna(lead_row["top_owned_owner"])  # Anna took the call first: her lead
    assert task_row["top_owned_owner"] == TOP
    plain = assignment_frame(
        plans, calls_for(plans), active_user_ids=ACTIVE, top_manager_id=TOP, settings=SETTINGS
    )
    assert plain.to_dict("records")[0]["top_owned_owner"] == ANNA  # fails the TOP rule
