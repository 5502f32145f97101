"""The scenario planner: parsed calls + CRM snapshot + employee map → planned Zoho writes. Pure.

SPEC sections 5–8. For each call (in ``(started_at, uniqueid)`` order) the planner finds the
client (:mod:`.matching`), picks the matrix row (:mod:`.matrix`), and turns the row's actions into
:class:`models.plan.PlannedWrite` objects shaped as Zoho expects them (:mod:`.records`).
Nothing here touches the network, the clock or Prefect: ``now`` is passed in.

Owners and deadlines come from one place, :class:`tasks.scenario.assign.Assigner` (owner rules
``top``, ``employee``, ``responsible``, ``rotation``; deadlines in working hours). Working hours
and the rotation's turn are arguments (:func:`plan_batch`), never read here.

Decisions taken here:

- a responsible manager who is not an active Zoho user cannot own a task: the task goes to the
  TOP manager (as every write must have an owner Zoho accepts). The record itself is handed to
  the TOP manager too when ``scenario.inactive_owner = "top"`` (the default): an ``update`` of
  its ``Owner`` keyed ``<uniqueid>/owner``, once per record per run, and only when the call's row
  writes something; the TOP manager is then the responsible manager for the row;
- the owner rule ``employee`` with an unmapped employee falls back to the TOP manager, whose task
  description names the SIP/number that took the call; ``responsible`` on a new client without a
  planned lead falls back to the TOP manager as well;
- transfers: a call whose pickup webhook named the employee who answered first
  (``Call.first_answered_by``) gets its lead as the pickup gave it — the owner the row of the
  *first* answerer gives, because the lead was created while they talked — while its tasks
  follow the call log's employee (the last one); when the two differ, every task's description
  names both;
- a client number that is a mapped employee's phone (an explicit entry's number or an
  auto-mapped Zoho user's phone) is skipped as ``own_number``, like the company numbers, with the
  same country guard as client matching (SPEC 3);
- calls repeated in the input (same ``uniqueid``) are planned once, from the last occurrence;
- in the enrich modes a call with no matching record is deferred (``enrich_waiting``) while
  ``now < call end + enrich_grace_minutes``, then handled by ``enrich_fallback``. Rows whose
  action is a skip (10, 13) are skipped at once: waiting cannot change their outcome;
- the UTM update of an enrich mode (keys ``<uniqueid>/utm-lead``, ``/utm-contact``,
  ``/utm-deal``) sends only the fields that change; a record updated by an earlier call of the
  same run is compared with its updated values;
- a lead another call is creating right now for the same number (its phone key claimed in the
  state store, :attr:`CrmSnapshot.claimed`) counts like a lead planned earlier in the run: the
  call attaches to it and creates none (one lead per number, whatever the path);
- call-backs close the loop (:mod:`.callbacks`): with ``merge_callbacks`` the open task of rows
  6–9 for a client who has an open call-back becomes an update of that task (a line for the
  call); with ``complete_callbacks`` an answered call with the client completes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from models.call import Call, Direction, Outcome
from models.crm import CrmSnapshot, OpenCallback, ZohoUser
from models.hours import WorkingHours
from models.plan import Attachment, CallPlan, PlannedWrite, PlanStatus, Reason, RotationTurn
from models.settings import RowActions, ScenarioSettings, Settings, TaskAction
from models.sync_key import belongs_to, sync_key
from tasks.calls import employee_ident
from tasks.employees import EmployeeMap, find_user
from tasks.scenario import callbacks, records
from tasks.scenario.assign import Assigner
from tasks.scenario.hours import effective_hours
from tasks.scenario.matching import ClientMatch, PlannedLead, find_client, utm_targets
from tasks.scenario.matrix import effective_rows, row_number


class TopManagerError(ValueError):
    """``scenario.top_manager`` does not name an active Zoho user: the run must not start."""


def resolve_top_manager(scenario: ScenarioSettings, users: Sequence[ZohoUser]) -> ZohoUser:
    """The TOP manager (SPEC 4), or :class:`TopManagerError` with a clear message."""
    ident = scenario.top_manager.strip()
    if not ident:
        raise TopManagerError(
            "scenario.top_manager is not set: name one active Zoho user by id or email"
        )
    user = find_user(ident, users)
    if user is None:
        raise TopManagerError(
            f"scenario.top_manager {ident!r} is not a Zoho user of this org (looked up by id "
            "and email)"
        )
    if not user.active:
        raise TopManagerError(
            f"scenario.top_manager {ident!r} ({user.full_name}) is not an active Zoho user"
        )
    return user


@dataclass
class PlannerMemory:
    """What planning remembers from one chunk of a run to the next (two calls from one new
    number never make two leads, however the window is cut).

    ``planned_leads``: the leads planned for earlier calls, by phone key, until the index holds
    them (:meth:`settle` forgets those written); ``utm_overlay``: the UTM values an enrich mode
    planned onto a record, until the index holds them too; ``reassigned``: records handed to the
    TOP manager earlier in the run (``inactive_owner = "top"``); ``callbacks``: the open
    call-backs of the phone keys this run's planning touched, as it left them (opened, extended
    or completed), which win over the store's copy for the rest of the run.
    """

    planned_leads: dict[str, list[PlannedLead]] = field(default_factory=dict)
    utm_overlay: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    reassigned: set[tuple[str, str]] = field(default_factory=set)
    callbacks: dict[str, list[OpenCallback]] = field(default_factory=dict)

    def settle(self, written: Collection[str], updated: Collection[tuple[str, str]] = ()) -> None:
        """Forget the leads whose sync keys were ``written`` (the index has them now) and the
        UTM values of the ``updated`` (module, id) records."""
        for key in list(self.planned_leads):
            left = [p for p in self.planned_leads[key] if p.sync_key not in written]
            if left:
                self.planned_leads[key] = left
            else:
                del self.planned_leads[key]
        for ident in updated:
            self.utm_overlay.pop(ident, None)


@dataclass
class _Run:
    """What one planning run knows and accumulates."""

    settings: Settings
    crm: CrmSnapshot
    employees: EmployeeMap
    top: ZohoUser
    now: datetime
    rows: dict[int, RowActions]
    tz: ZoneInfo
    assign: Assigner
    memory: PlannerMemory = field(default_factory=PlannerMemory)

    @property
    def planned_leads(self) -> dict[str, list[PlannedLead]]:
        return self.memory.planned_leads

    @property
    def utm_overlay(self) -> dict[tuple[str, str], dict[str, str]]:
        return self.memory.utm_overlay

    @property
    def reassigned(self) -> set[tuple[str, str]]:
        """Records handed to the TOP manager earlier in this run (``inactive_owner = "top"``)."""
        return self.memory.reassigned

    @property
    def scenario(self) -> ScenarioSettings:
        return self.settings.scenario

    @property
    def callback_loop(self) -> callbacks.Loop:
        return callbacks.Loop(
            scenario=self.scenario, crm=self.crm, memory=self.memory.callbacks, tz=self.tz
        )


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    """The plans of a batch of calls, and the rotation's turn after them (to keep)."""

    plans: list[CallPlan]
    rotation: RotationTurn


def plan_batch(
    calls: Sequence[Call],
    crm: CrmSnapshot,
    employees: EmployeeMap,
    settings: Settings,
    *,
    now: datetime,
    hours: WorkingHours | None = None,
    rotation: RotationTurn | None = None,
    memory: PlannerMemory | None = None,
) -> PlannedBatch:
    """Plan every call; plans come back in processing order ``(started_at, uniqueid)``.

    ``memory`` carries what earlier chunks of the same run planned (a fresh one when not given).

    ``hours``: the org's working hours from Zoho (``ZohoClient.business_hours``); the config's
    ``[scenario.business_hours]`` wins over them, and with neither every moment is working time
    (24×7). ``rotation``: the call-back rotation's turn as the last batch left it; the turn after
    this batch comes back in :attr:`PlannedBatch.rotation`.

    Raises :class:`TopManagerError` before planning anything when the TOP manager is not an
    active Zoho user of ``crm.users``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    sc = settings.scenario
    top = resolve_top_manager(sc, crm.users)
    run = _Run(
        settings=settings,
        crm=crm,
        employees=employees,
        top=top,
        now=now,
        rows=effective_rows(sc),
        tz=ZoneInfo(sc.company_timezone),
        assign=Assigner.build(sc, crm.users, top, effective_hours(sc, hours), rotation),
        memory=memory if memory is not None else PlannerMemory(),
    )
    latest = {call.uniqueid: call for call in calls}
    ordered = sorted(latest.values(), key=lambda c: c.sort_key)
    plans = [_plan_one(call, run) for call in ordered]
    return PlannedBatch(plans=plans, rotation=run.assign.turn)


def plan_calls(
    calls: Sequence[Call],
    crm: CrmSnapshot,
    employees: EmployeeMap,
    settings: Settings,
    *,
    now: datetime,
    hours: WorkingHours | None = None,
    rotation: RotationTurn | None = None,
    memory: PlannerMemory | None = None,
) -> list[CallPlan]:
    """:func:`plan_batch` for callers that keep no rotation turn: only the plans."""
    return plan_batch(
        calls, crm, employees, settings, now=now, hours=hours, rotation=rotation, memory=memory
    ).plans


def transfer_note(call: Call, employees: EmployeeMap, employee: ZohoUser | None) -> str | None:
    """Who answered first, when a pickup webhook named someone other than the call log's
    employee (a transferred call); None otherwise."""
    first = call.first_answered_by
    if not first:
        return None
    first_user = employees.resolve_ident(first)
    if first_user is not None:
        if employee is not None and employee.id == first_user.id:
            return None
        return first_user.full_name
    ident = employee_ident(first)
    if employee is None and ident.lower() in {i.lower() for i in call.employee_ids}:
        return None
    return f"{ident} (not in the employee map)"


def _plan_one(call: Call, run: _Run) -> CallPlan:
    sc = run.scenario
    employee = run.employees.resolve(call)
    employee_id = employee.id if employee is not None else None

    def plan(
        status: PlanStatus,
        reason: str | None,
        *,
        row: int | None = None,
        match: ClientMatch | None = None,
        attachment: Attachment | None = None,
        writes: Sequence[PlannedWrite] = (),
    ) -> CallPlan:
        client_status: Literal["new", "existing"] | None = None
        if match is not None:
            client_status = "new" if match.is_new else "existing"
        return CallPlan(
            uniqueid=call.uniqueid,
            status=status,
            row=row,
            reason=reason,
            client_status=client_status,
            attachment=attachment,
            ambiguous=False if match is None else match.ambiguous,
            employee_user_id=employee_id,
            writes=tuple(writes),
        )

    if run.employees.numbers.holds(call.client):
        return plan(PlanStatus.SKIPPED, Reason.OWN_NUMBER.value)

    match = find_client(
        call, run.crm, _planned_and_claimed(call, run), strict_country=sc.strict_country_match
    )
    responsible_id = None if match.attachment is None else match.attachment.owner_id
    handover = _handover(call, match, run)
    if handover is not None:
        responsible_id = run.top.id  # the record is the TOP manager's from this call on
    row = row_number(
        direction=call.direction,
        outcome=call.outcome,
        new_client=match.is_new,
        employee_id=employee_id,
        responsible_id=responsible_id,
    )
    actions = run.rows[row]
    if actions.skip_reason:
        return plan(
            PlanStatus.SKIPPED,
            actions.skip_reason,
            row=row,
            match=match,
            attachment=match.attachment,
        )

    enriching = sc.mode != "default"
    if enriching and match.is_new:
        if run.now < call.ended_at + timedelta(minutes=sc.enrich_grace_minutes):
            return plan(PlanStatus.DEFERRED, Reason.ENRICH_WAITING.value, match=match)
        if sc.enrich_fallback == "skip":
            return plan(PlanStatus.SKIPPED, Reason.ENRICH_NO_ENTITY.value, row=row, match=match)
        enriching = False  # fallback "create": act as the default scenario

    writes: list[PlannedWrite] = []
    attachment = match.attachment
    if handover is not None and attachment is not None:
        attachment = replace(attachment, owner_id=run.top.id)
    if match.is_new and actions.create_lead:
        lead_owner = _lead_owner(call, actions, employee, run)
        lead_key = sync_key(call.uniqueid, "lead")
        writes.append(
            PlannedWrite(
                sync_key=lead_key,
                module="Leads",
                op="insert",
                fields=records.lead_fields(call, lead_owner, sc, lead_key),
                owner_id=lead_owner,
                # The lead this call created before (a crash, the real-time receiver): reused.
                record_id=match.own_lead.id if match.own_lead is not None else None,
                kind="lead",
            )
        )
        attachment = Attachment(module="Leads", id=None, owner_id=lead_owner, planned_key=lead_key)
        responsible_id = lead_owner
        run.planned_leads.setdefault(call.client.key, []).append(
            PlannedLead(phone=call.client, sync_key=lead_key, owner_id=lead_owner)
        )

    if enriching:
        writes.extend(_utm_updates(call, match, run))

    loop = run.callback_loop
    tasks = _task_writes(call, row, actions.tasks, employee, responsible_id, attachment, run, loop)
    tasks += callbacks.completions(call, row, employee, loop)
    writes.extend(tasks)
    if sc.log_calls and tasks:
        writes.append(_call_write(call, tasks, employee, attachment, run))

    if writes and handover is not None and match.attachment is not None:
        target = (match.attachment.module, str(match.attachment.id))
        if target not in run.reassigned:  # an earlier call of this run handed it over already
            writes.insert(0, handover)
            run.reassigned.add(target)
    if not writes:
        return plan(
            PlanStatus.SKIPPED,
            Reason.MATRIX_SKIP.value,
            row=row,
            match=match,
            attachment=attachment,
        )
    return plan(
        PlanStatus.PLANNED, None, row=row, match=match, attachment=attachment, writes=writes
    )


def _planned_and_claimed(call: Call, run: _Run) -> dict[str, list[PlannedLead]]:
    """Leads planned earlier in this run, and leads other calls are creating for this number
    right now (claimed in the state store), by phone key. The call's own claimed lead is its
    own to create, not a lead to attach to."""
    key = call.client.key
    claimed = [
        PlannedLead(phone=c.phone, sync_key=c.sync_key, owner_id=c.owner_id)
        for c in run.crm.claimed.get(key, ())
        if not belongs_to(c.sync_key, call.uniqueid)
    ]
    if not claimed:
        return run.planned_leads
    return {**run.planned_leads, key: [*run.planned_leads.get(key, ()), *claimed]}


def _handover(call: Call, match: ClientMatch, run: _Run) -> PlannedWrite | None:
    """The update handing the call's record to the TOP manager, when its owner is not an
    active user and ``inactive_owner = "top"`` (None otherwise)."""
    record, attachment = match.record, match.attachment
    if run.scenario.inactive_owner != "top" or record is None or attachment is None:
        return None
    if attachment.id is None or run.assign.is_active(attachment.owner_id):
        return None
    return PlannedWrite(
        sync_key=sync_key(call.uniqueid, "owner"),
        module=attachment.module,
        op="update",
        fields={"Owner": {"id": run.top.id}},
        owner_id=run.top.id,
        record_id=attachment.id,
        kind="owner",
    )


def _lead_owner(call: Call, actions: RowActions, employee: ZohoUser | None, run: _Run) -> str:
    """The new lead's owner: as the row says, or — when a pickup webhook named who answered
    first — as the first answerer's row says (the pickup created the lead while they talked)."""
    answered_inbound = call.direction is Direction.INBOUND and call.outcome is Outcome.ANSWERED
    if call.first_answered_by and answered_inbound:
        first = run.employees.resolve_ident(call.first_answered_by)
        pickup_row = row_number(
            direction=call.direction,
            outcome=call.outcome,
            new_client=True,
            employee_id=None if first is None else first.id,
            responsible_id=None,
        )
        actions, employee = run.rows[pickup_row], first
    return run.assign.owner(
        actions.lead_owner,
        employee=employee,
        responsible_id=None,
        call_id=call.uniqueid,
        at=call.ended_at,
    )


def _utm_updates(call: Call, match: ClientMatch, run: _Run) -> list[PlannedWrite]:
    out: list[PlannedWrite] = []
    for record in utm_targets(match, run.scenario.mode):
        slot = {"Leads": "utm-lead", "Contacts": "utm-contact", "Deals": "utm-deal"}[record.module]
        ident = (record.module, record.id)
        current = run.utm_overlay.get(ident, dict(record.utm))
        changes = records.utm_changes(call, current, run.scenario)
        if not changes:
            continue  # nothing changes: no write, no credit spent
        run.utm_overlay[ident] = {**current, **changes}
        out.append(
            PlannedWrite(
                sync_key=sync_key(call.uniqueid, slot),
                module=record.module,
                op="update",
                fields=changes,
                owner_id=record.owner_id,
                record_id=record.id,
                kind="utm",
            )
        )
    return out


def _task_writes(
    call: Call,
    row: int,
    actions: Sequence[TaskAction],
    employee: ZohoUser | None,
    responsible_id: str | None,
    attachment: Attachment | None,
    run: _Run,
    loop: callbacks.Loop,
) -> list[PlannedWrite]:
    """The row's tasks. In rows 6–9 the first open task is the call-back: merged into the
    client's open call-back (no new task, no owner chosen: the rotation's turn is not spent),
    or inserted as the client's call-back."""
    sc = run.scenario
    text = _description(call, employee, run)
    mapped = records.mapped_values(call, sc.field_map.Tasks)
    out: list[PlannedWrite] = []
    used: set[str] = set()
    callback_slot = row in callbacks.CALLBACK_ROWS
    for action in actions:
        open_task = action.status == "open"
        is_callback = callback_slot and open_task
        if is_callback:
            callback_slot = False  # the first open task of the row only
            target = loop.merge_target(call)
            if target is not None:
                key = _unused_key(call, action.slot, used)
                out.append(loop.merge(call, key, target))
                continue
        owner_id = run.assign.owner(
            action.owner,
            employee=employee,
            responsible_id=responsible_id,
            call_id=call.uniqueid,
            at=call.ended_at,
        )
        due = run.assign.deadline(call.ended_at) if open_task else call.ended_at
        key = _unused_key(call, action.slot, used)
        fields, links = records.task_fields(
            subject_text=records.subject(action.subject, call, employee, action.status),
            open_task=open_task,
            owner_id=owner_id,
            attachment=attachment,
            due=due,
            description_text=text,
            tz=run.tz,
            scenario=sc,
            sync_key=key,
            mapped=mapped,
        )
        write = PlannedWrite(
            sync_key=key,
            module="Tasks",
            op="insert",
            fields=fields,
            owner_id=owner_id,
            links=links,
            kind="open_task" if open_task else "log_task",
            due_at=due if open_task else None,
        )
        out.append(loop.open(call, write) if is_callback else write)
    return out


def _unused_key(call: Call, slot: str, used: set[str]) -> str:
    """The call's sync key for ``slot``; an override listing one slot twice gets ``-2``, ..."""
    key = sync_key(call.uniqueid, slot)
    n = 2
    while key in used:
        key = sync_key(call.uniqueid, f"{slot}-{n}")
        n += 1
    used.add(key)
    return key


def _description(call: Call, employee: ZohoUser | None, run: _Run) -> str:
    return records.description(
        call,
        employee,
        run.tz,
        run.scenario.company_timezone,
        first_answerer=transfer_note(call, run.employees, employee),
    )


def _call_write(
    call: Call,
    tasks: Sequence[PlannedWrite],
    employee: ZohoUser | None,
    attachment: Attachment | None,
    run: _Run,
) -> PlannedWrite:
    """The Calls-module record: same attachment and owner as the log task (else the first task)."""
    model = next((t for t in tasks if t.kind == "log_task"), tasks[0])
    key = sync_key(call.uniqueid, "call")
    fields, links = records.call_fields(
        call=call,
        subject_text=records.subject(None, call, employee, "log"),
        owner_id=model.owner_id,
        attachment=attachment,
        description_text=_description(call, employee, run),
        tz=run.tz,
        scenario=run.scenario,
        sync_key=key,
    )
    return PlannedWrite(
        sync_key=key,
        module="Calls",
        op="insert",
        fields=fields,
        owner_id=model.owner_id,
        links=links,
        kind="call",
    )


def plan_recording_updates(
    call: Call,
    synced: Sequence[tuple[str, str, str]],
    settings: Settings,
    employees: EmployeeMap,
    crm: CrmSnapshot,
) -> list[PlannedWrite]:
    """Updates for a synced call whose recording appeared later (SPEC 9).

    ``synced`` lists ``(sync_key, module, zoho_id)`` of the call's written Tasks and Calls
    (other modules are ignored). Each gets an ``update`` of its ``Description`` (and
    ``Voice_Recording__s`` on Calls), keyed ``<sync_key>#recording-<hash of the URL>`` so that a recording that changes again is
    written again, while re-reading the same one is not. The update does not send
    ``Owner``, so the record keeps its owner; ``owner_id`` names the call's mapped employee, else
    the TOP manager. No recording on the call → no updates.
    """
    if not call.recording_url:
        return []
    url_tag = hashlib.sha1(call.recording_url.encode()).hexdigest()[:8]
    sc = settings.scenario
    employee = employees.resolve(call)
    owner_id = employee.id if employee is not None else resolve_top_manager(sc, crm.users).id
    text = records.description(
        call,
        employee,
        ZoneInfo(sc.company_timezone),
        sc.company_timezone,
        first_answerer=transfer_note(call, employees, employee),
    )
    out: list[PlannedWrite] = []
    for key, module, zoho_id in synced:
        target: Literal["Tasks", "Calls"]
        if module == "Tasks":
            target = "Tasks"
            fields: dict[str, str] = {"Description": text}
        elif module == "Calls":
            target = "Calls"
            fields = {"Description": text, "Voice_Recording__s": call.recording_url}
        else:
            continue
        out.append(
            PlannedWrite(
                sync_key=f"{key}#recording-{url_tag}",
                module=target,
                op="update",
                fields=fields,
                owner_id=owner_id,
                record_id=zoho_id,
                kind="recording",
            )
        )
    return out
