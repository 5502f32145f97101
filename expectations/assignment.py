"""Suite ``callsync_assignment``: who owns the planned Zoho writes, and what they say (SPEC 6).

One row per :class:`models.plan.PlannedWrite`, plus one row per call of the "write nothing" rows
10 and 13 (so that *nothing* is checkable), all keyed by the call's ``uniqueid``. Each rule has
its own derived column, filled only on the rows the rule governs and NULL elsewhere (GX skips
NULLs in these expectations), so a failure's name says which rule broke. In order:

1. ``expect_column_values_to_be_in_set:assigned_owner`` — the owner of every *insert* is an
   active Zoho user (suite parameter ``active_user_ids``). Updates (UTM, late recordings) do not
   send ``Owner``: the record keeps whoever owns it, possibly a user who has since left;
2. ``expect_column_values_to_be_in_set:top_owned_owner`` — the TOP manager (parameter
   ``top_manager_ids``) owns what the default matrix gives it: in rows 2, 6 and 8 the lead and
   its open task, in rows 5, 7, 9 and 12 the open task. A row overridden in
   ``[scenario.rows.N]`` is not checked (its owner rule is the configuration's business), nor
   the lead of a transferred call (the employee who answered first owns it);
3. ``expect_column_pair_values_to_be_equal:due_at_utc,expected_due_utc`` — an open task's
   deadline is the call's end + ``scenario.open_task_due_hours`` working hours (the working
   hours in force: ``[scenario.business_hours]``, else the ``hours`` given — Zoho's — else
   24×7), compared to the second: Zoho keeps no more. A missing deadline, or a call missing
   from ``calls_by_id``, fails;
4. ``expect_column_values_to_be_in_set:log_task_status`` — log tasks are ``Completed``;
5. ``expect_column_values_to_be_in_set:open_task_status`` — open tasks are ``Not Started``
   (a missing ``Status`` reads ``(missing)`` and fails both);
6. ``expect_column_values_to_be_in_set:silent_row_writes`` — rows 10 and 13 (unless overridden)
   plan zero writes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no pandas-stubs in the lock

from expectations.runner import GxRunner, SuiteOutcome, SuiteSpec
from models.call import Call
from models.hours import WorkingHours
from models.plan import CallPlan, PlannedWrite
from models.settings import Settings
from tasks.scenario.hours import add_working_time, effective_hours

SUITE_NAME = "callsync_assignment"
ID_COLUMN = "uniqueid"

LOG_TASK_STATUS = "Completed"
OPEN_TASK_STATUS = "Not Started"
MISSING = "(missing)"

TOP_OWNS_LEAD_AND_TASK_ROWS = frozenset({2, 6, 8})
TOP_OWNS_OPEN_TASK_ROWS = frozenset({5, 7, 9, 12})
SILENT_ROWS = frozenset({10, 13})

COLUMNS = (
    "uniqueid",
    "sync_key",
    "scenario_row",
    "kind",
    "module",
    "op",
    "owner_id",
    "assigned_owner",
    "top_owned_owner",
    "due_at_utc",
    "expected_due_utc",
    "log_task_status",
    "open_task_status",
    "silent_row_writes",
)


def _utc_naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    # Whole seconds: Zoho's Remind_At has no sub-second part, so neither does the rule.
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _top_owns(row: int | None, kind: str, overridden: Collection[int]) -> bool:
    if row is None or row in overridden:
        return False
    if row in TOP_OWNS_LEAD_AND_TASK_ROWS:
        return kind in {"lead", "open_task"}
    if row in TOP_OWNS_OPEN_TASK_ROWS:
        return kind == "open_task"
    return False


def _status(write: PlannedWrite) -> str:
    value = write.fields.get("Status")
    return str(value) if value else MISSING


def _write_row(
    plan: CallPlan,
    write: PlannedWrite,
    call: Call | None,
    due: Callable[[datetime], datetime],
    overridden: Collection[int],
) -> dict[str, Any]:
    open_task = write.kind == "open_task"
    expected_due = due(call.ended_at) if open_task and call is not None else None
    top_owns = _top_owns(plan.row, write.kind, overridden) and not (
        write.kind == "lead" and call is not None and call.first_answered_by
    )
    return {
        "uniqueid": plan.uniqueid,
        "sync_key": write.sync_key,
        "scenario_row": plan.row,
        "kind": write.kind,
        "module": write.module,
        "op": write.op,
        "owner_id": write.owner_id,
        "assigned_owner": write.owner_id if write.op == "insert" else None,
        "top_owned_owner": write.owner_id if top_owns else None,
        "due_at_utc": _utc_naive(write.due_at) if open_task else None,
        "expected_due_utc": _utc_naive(expected_due),
        "log_task_status": _status(write) if write.kind == "log_task" else None,
        "open_task_status": _status(write) if open_task else None,
        "silent_row_writes": None,
    }


def _silent_row(plan: CallPlan) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        uniqueid=plan.uniqueid,
        scenario_row=plan.row,
        kind="(call)",
        silent_row_writes=len(plan.writes),
    )
    return row


def assignment_frame(
    plans: Sequence[CallPlan],
    calls_by_id: Mapping[str, Call],
    *,
    active_user_ids: Collection[str],
    top_manager_id: str,
    settings: Settings,
    hours: WorkingHours | None = None,
) -> pd.DataFrame:
    """The rows the suite checks (see the module docstring).

    ``active_user_ids`` and ``top_manager_id`` are not columns: they are the suite parameters
    :func:`validate_plans` passes. They are accepted here so both functions read alike.
    ``hours``: Zoho's working hours, as the planner was given them.
    """
    del active_user_ids, top_manager_id  # parameters of the run, not data of the frame
    sc = settings.scenario
    overridden = frozenset(sc.rows)
    in_force, tz = effective_hours(sc, hours), ZoneInfo(sc.company_timezone)
    due_hours = timedelta(hours=sc.open_task_due_hours)

    def due(ended_at: datetime) -> datetime:
        return add_working_time(ended_at, due_hours, in_force, tz)

    rows: list[dict[str, Any]] = []
    for plan in plans:
        call = calls_by_id.get(plan.uniqueid)
        rows.extend(_write_row(plan, w, call, due, overridden) for w in plan.writes)
        if plan.row in SILENT_ROWS and plan.row not in overridden:
            rows.append(_silent_row(plan))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("due_at_utc", "expected_due_utc"):
        frame[col] = pd.to_datetime(frame[col])
    for col in ("scenario_row", "silent_row_writes"):
        frame[col] = frame[col].astype("Int64")
    return frame


def _build(gx: ModuleType) -> list[Any]:
    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeInSet(
            column="assigned_owner", value_set={"$PARAMETER": "active_user_ids"}
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="top_owned_owner", value_set={"$PARAMETER": "top_manager_ids"}
        ),
        # "both missing" is skipped (not an open task); one side missing is a failure.
        ex.ExpectColumnPairValuesToBeEqual(
            column_A="due_at_utc",
            column_B="expected_due_utc",
            ignore_row_if="both_values_are_missing",
        ),
        ex.ExpectColumnValuesToBeInSet(column="log_task_status", value_set=[LOG_TASK_STATUS]),
        ex.ExpectColumnValuesToBeInSet(column="open_task_status", value_set=[OPEN_TASK_STATUS]),
        ex.ExpectColumnValuesToBeInSet(column="silent_row_writes", value_set=[0]),
    ]


SUITE = SuiteSpec(SUITE_NAME, _build)


def validate_plans(
    runner: GxRunner,
    plans: Sequence[CallPlan],
    calls_by_id: Mapping[str, Call],
    *,
    active_user_ids: Collection[str],
    top_manager_id: str,
    settings: Settings,
    hours: WorkingHours | None = None,
) -> SuiteOutcome:
    """Run the assignment suite; ``failed`` is keyed by call ``uniqueid``. ``hours``: Zoho's
    working hours, the same the planner was given."""
    runner.register(SUITE)
    frame = assignment_frame(
        plans,
        calls_by_id,
        active_user_ids=active_user_ids,
        top_manager_id=top_manager_id,
        settings=settings,
        hours=hours,
    )
    return runner.validate(
        SUITE_NAME,
        frame,
        ID_COLUMN,
        parameters={
            "active_user_ids": sorted(active_user_ids),
            "top_manager_ids": [top_manager_id],
        },
    )
