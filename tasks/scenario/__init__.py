"""The scenario: what Zoho must receive for each call (SPEC sections 5–8). Pure, no Prefect.

- :mod:`.matrix` — the 13-row matrix of SPEC 6 as data, with ``[scenario.rows.N]`` overrides;
- :mod:`.matching` — finding the client among CRM records (SPEC 5);
- :mod:`.records` — the Zoho field shapes of leads, tasks and calls (SPEC 7);
- :mod:`.hours` — working time: deadlines and reminders in working hours;
- :mod:`.assign` — who owns a lead or task (owner rules, the rotation) and when it is due;
- :mod:`.planner` — :func:`plan_batch` (plans and the rotation's turn), :func:`plan_calls`,
  :func:`plan_recording_updates`, :func:`resolve_top_manager`.
"""

from tasks.scenario.planner import (
    PlannedBatch,
    PlannerMemory,
    TopManagerError,
    plan_batch,
    plan_calls,
    plan_recording_updates,
    resolve_top_manager,
)

__all__ = [
    "PlannedBatch",
    "PlannerMemory",
    "TopManagerError",
    "plan_batch",
    "plan_calls",
    "plan_recording_updates",
    "resolve_top_manager",
]
