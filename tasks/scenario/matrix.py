"""The scenario matrix of SPEC section 6, as data.

:data:`DEFAULT_ROWS` is the table exactly as the SPEC states it; ``[scenario.rows.N]`` overrides
(:class:`models.settings.RowOverride`) replace the keys they set (:func:`effective_rows`).
:func:`row_number` picks the row of a call from its direction, outcome, whether the client is new,
and whether the employee is mapped and is the responsible manager.

Override rules:

- a key the override sets replaces the default; unset keys keep it;
- ``skip_reason = ""`` clears a default skip reason; an override that sets ``create_lead`` or
  ``tasks`` on a skipping row (10, 13) without naming ``skip_reason`` makes the row act — the
  alternative (silently keeping the skip) would make such an override do nothing;
- ``create_lead`` only has an effect on the rows of a new client: an existing client is never
  given a second lead.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.call import Direction, Outcome
from models.plan import Reason
from models.settings import RowActions, RowOverride, ScenarioSettings, TaskAction

DEFAULT_ROWS: Mapping[int, RowActions] = {
    # 1: inbound answered, new client, mapped E
    1: RowActions(
        create_lead=True,
        lead_owner="employee",
        tasks=(TaskAction(status="log", owner="employee", subject="Inbound call from {phone}"),),
    ),
    # 2: inbound answered, new client, unmapped employee (decided: the lead is still created)
    2: RowActions(
        create_lead=True,
        lead_owner="top",
        tasks=(
            TaskAction(
                status="open",
                owner="top",
                subject="Inbound call from {phone} answered by an unmapped employee ({employee})",
            ),
        ),
    ),
    # 3: inbound answered, existing client, E = R
    3: RowActions(
        tasks=(TaskAction(status="log", owner="responsible", subject="Inbound call from {phone}"),),
    ),
    # 4: inbound answered, existing client, E != R
    4: RowActions(
        tasks=(
            TaskAction(status="log", owner="employee", subject="Inbound call from {phone}"),
            TaskAction(
                slot="task-responsible",
                status="open",
                owner="responsible",
                subject="Your client {phone} called and talked to {employee}",
            ),
        ),
    ),
    # 5: inbound answered, existing client, unmapped employee
    5: RowActions(
        tasks=(
            TaskAction(
                status="open",
                owner="top",
                subject="Inbound call from {phone} answered by an unmapped employee ({employee})",
            ),
        ),
    ),
    # 6: inbound missed, new client
    6: RowActions(
        create_lead=True,
        lead_owner="top",
        tasks=(TaskAction(status="open", owner="top", subject="Call back {phone} (missed call)"),),
    ),
    # 7: inbound missed, existing client
    7: RowActions(
        tasks=(
            TaskAction(
                status="open", owner="top", subject="Contact the customer {phone} (missed call)"
            ),
        ),
    ),
    # 8: inbound voicemail, new client
    8: RowActions(
        create_lead=True,
        lead_owner="top",
        tasks=(
            TaskAction(status="open", owner="top", subject="Voicemail from {phone}: call back"),
        ),
    ),
    # 9: inbound voicemail, existing client
    9: RowActions(
        tasks=(
            TaskAction(status="open", owner="top", subject="Voicemail from {phone}: call back"),
        ),
    ),
    # 10: outbound answered, new client
    10: RowActions(skip_reason=Reason.OUTBOUND_NO_ENTITY.value),
    # 11: outbound answered, existing client, mapped E
    11: RowActions(
        tasks=(TaskAction(status="log", owner="employee", subject="Outbound call to {phone}"),),
    ),
    # 12: outbound answered, existing client, unmapped employee (decided)
    12: RowActions(
        tasks=(
            TaskAction(
                status="open",
                owner="top",
                subject="Outbound call to {phone} by an unmapped employee ({employee})",
            ),
        ),
    ),
    # 13: outbound missed or voicemail, any client
    13: RowActions(skip_reason=Reason.OUTBOUND_NOT_ANSWERED.value),
}


def apply_override(default: RowActions, override: RowOverride) -> RowActions:
    """One row's actions with a ``[scenario.rows.N]`` override applied (see the module doc)."""
    given = override.model_fields_set
    create_lead = override.create_lead if "create_lead" in given else default.create_lead
    lead_owner = override.lead_owner if "lead_owner" in given else default.lead_owner
    tasks = override.tasks if "tasks" in given else default.tasks
    if "skip_reason" in given:
        skip_reason = override.skip_reason or None
    elif given & {"create_lead", "tasks"}:
        skip_reason = None
    else:
        skip_reason = default.skip_reason
    return RowActions(
        create_lead=default.create_lead if create_lead is None else create_lead,
        lead_owner=default.lead_owner if lead_owner is None else lead_owner,
        tasks=default.tasks if tasks is None else tasks,
        skip_reason=skip_reason,
    )


def effective_rows(scenario: ScenarioSettings) -> dict[int, RowActions]:
    """The 13 rows in force: the default table with the configured overrides applied."""
    rows = dict(DEFAULT_ROWS)
    for number, override in scenario.rows.items():
        rows[number] = apply_override(rows[number], override)
    return rows


def row_number(
    *,
    direction: Direction,
    outcome: Outcome,
    new_client: bool,
    employee_id: str | None,
    responsible_id: str | None,
) -> int:
    """The SPEC section 6 row of a call. ``employee_id`` is None for an unmapped employee."""
    if direction is Direction.OUTBOUND:
        if outcome is not Outcome.ANSWERED:
            return 13
        if new_client:
            return 10
        return 11 if employee_id is not None else 12
    if outcome is Outcome.MISSED:
        return 6 if new_client else 7
    if outcome is Outcome.VOICEMAIL:
        return 8 if new_client else 9
    if new_client:
        return 1 if employee_id is not None else 2
    if employee_id is None:
        return 5
    return 3 if employee_id == responsible_id else 4
