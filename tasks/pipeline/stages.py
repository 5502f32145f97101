"""The stages of the pipeline: plain functions, each batch-sized, each named.

Each takes what it works on and returns what it made; none knows the order it runs in (that is
:mod:`tasks.pipeline.run`) or Prefect (that is :mod:`tasks.steps`, which wraps every stage named
in :data:`STAGES` as a task of the same name). A stage handles a Ringostat page, a chunk of a few
thousand calls, or a run's worth of small work — never one call.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from models.call import Call, Phone, Unprocessable
from models.crm import CrmRecord, CrmSnapshot
from models.plan import CallbackNote, CallPlan, PlannedWrite, PlanStatus, Reason
from models.settings import Settings
from models.sync_key import sync_key
from models.tables import CallbackRecord, WriteRecord
from tasks.calls import parse_rows, with_first_answerers
from tasks.crm_records import RecordShapeError, lookup_id, record_from_zoho
from tasks.pipeline.checks import CheckResult, Checks
from tasks.pipeline.context import RunContext
from tasks.pipeline.crm import CrmView, People, load_people, refresh_index
from tasks.ringostat.cursor import Window
from tasks.scenario import PlannerMemory, plan_batch, plan_recording_updates
from tasks.scenario.callbacks import merged_line_with_voicemail, with_recording
from tasks.store import IngestResult, RebuiltWrite, Store
from tasks.store.callbacks import TaskState
from tasks.store.claims import LeadClaim
from tasks.webhooks.inbox import Inbox
from tasks.zoho.coql import MAX_LIMIT, MAX_ROWS, Condition, is_not_null, select
from tasks.zoho.errors import FatalError, RecordRejected
from tasks.zoho.index import FIRST_PAGE, MODULES, IndexDelta
from tasks.zoho.writer import Learn, WriteReport, execute_plans, execute_writes

log = logging.getLogger(__name__)


@dataclass
class Ingested:
    """What reading and ingesting a window gave: per-page results added up."""

    rows: int = 0
    requests: int = 0
    results: list[IngestResult] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(r.new for r in self.results)

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.results)

    @property
    def unchanged(self) -> int:
        return sum(r.unchanged for r in self.results)

    @property
    def quarantined(self) -> int:
        return sum(r.quarantined for r in self.results)

    @property
    def quarantined_new(self) -> int:
        return sum(r.quarantined_new for r in self.results)

    @property
    def recording_updates(self) -> list[str]:
        return list(dict.fromkeys(u for r in self.results for u in r.recording_updates))

    @property
    def changed_after_sync(self) -> list[tuple[str, str]]:
        return [c for r in self.results for c in r.changed_after_sync]

    @property
    def refreshed(self) -> list[str]:
        return list(dict.fromkeys(u for r in self.results for u in r.refreshed))


async def read_calls(ctx: RunContext, window: Window, run_id: str) -> Ingested:
    """Read the window's call log page by page, each page kept in the store as it arrives (a
    window of any size holds one page in memory)."""
    out = Ingested()
    before = ctx.ringostat.requests_made
    async for page in ctx.ringostat.pages(window.start, window.end):
        out.rows += len(page)
        out.results.append(ctx.store.ingest(page, run_id=run_id))
    out.requests = ctx.ringostat.requests_made - before
    return out


async def peek_calls(ctx: RunContext, window: Window) -> list[list[dict[str, Any]]]:
    """The window's pages, read and kept nowhere (a dry run)."""
    return [page async for page in ctx.ringostat.pages(window.start, window.end)]


async def load_users(ctx: RunContext, remember: bool = True) -> People:
    return await load_people(ctx.zoho, ctx.store if remember else None, ctx.settings)


async def refresh_phone_index(
    ctx: RunContext, people: People, full: bool = False, persist: bool = True
) -> IndexDelta:
    return await refresh_index(
        ctx.zoho, ctx.store, ctx.settings, people, full=full, persist=persist
    )


def parse_calls(
    rows: Sequence[Mapping[str, Any]], settings: Settings
) -> tuple[list[Call], list[Unprocessable]]:
    return parse_rows(rows, settings)


def check_phones(checks: Checks, calls: Sequence[Call]) -> CheckResult:
    return checks.phones(calls)


PLAN_ROUNDS = 4
"""Plannings of a chunk at most: again when another path holds a number the chunk would create
a lead for (the next planning sees the holder's lead), when a lead appeared meanwhile, or when
another process moved the rotation's turn."""


def plan_writes(
    ctx: RunContext,
    calls: Sequence[Call],
    crm: CrmView,
    now: datetime,
    memory: PlannerMemory,
    keep_turn: bool = True,
    claim: bool = True,
) -> list[CallPlan]:
    """Plan a chunk: the candidates its phone keys can match, who answered first (a pickup
    webhook's employee), the org's working hours and closed stages, the call-back rotation's
    turn (kept in the store: ``keep_turn``).

    ``claim``: the phone key of every lead the plans create is claimed in the store first
    (:mod:`tasks.store.claims`): a key another path holds means planning again — the holder's
    lead then shows in the snapshot and the call attaches to it — and a lead that reached the
    index between the snapshot and the claim means planning again too. A call whose number is
    still held after :data:`PLAN_ROUNDS` plannings is deferred (``lead_in_progress``) to the
    next run. A dry run (``callsync plan``) claims nothing."""
    store, people = ctx.store, crm.people
    keys = {c.client.key for c in calls}
    since = min((c.started_at for c in calls), default=None)
    calls = with_first_answerers(calls, Inbox(store).first_answerers(c.uniqueid for c in calls))
    phones = {c.uniqueid: c.client for c in calls}
    held: set[str] = set()
    lost: Mapping[str, str] = {}
    trial = memory
    plans: list[CallPlan] = []
    for _ in range(PLAN_ROUNDS):
        snapshot: CrmSnapshot = crm.snapshot(keys, since=since)
        turn = store.rotation_turn()
        trial = copy.deepcopy(memory)
        batch = plan_batch(
            calls,
            snapshot,
            people.employees,
            ctx.settings,
            now=now,
            hours=people.hours,
            rotation=turn,
            memory=trial,
        )
        plans = batch.plans
        if claim:
            wanted = _new_leads(plans, phones)
            dropped = held - {c.lead_key for c in wanted}
            if dropped:
                store.release_claims(dropped)
                held -= dropped
            outcome = store.claim_leads(wanted)
            held |= {c.lead_key for c in wanted if c.phone.key in outcome.won}
            lost = outcome.lost
            if lost or _appeared(store, snapshot, outcome.won):
                continue
        if not keep_turn or batch.rotation == turn:
            break
        if store.save_rotation_turn(batch.rotation, expected=turn):
            break
    if lost:
        plans = _defer(plans, lost, phones)
    memory.planned_leads, memory.utm_overlay = trial.planned_leads, trial.utm_overlay
    memory.reassigned, memory.callbacks = trial.reassigned, trial.callbacks
    return plans


def _new_leads(plans: Sequence[CallPlan], phones: Mapping[str, Phone]) -> list[LeadClaim]:
    """The leads the plans create (not a lead the call created before: that one exists)."""
    return [
        LeadClaim(phones[p.uniqueid], w.sync_key, p.uniqueid, w.owner_id)
        for p in plans
        if p.status is PlanStatus.PLANNED
        for w in p.writes
        if w.kind == "lead" and w.op == "insert" and not w.record_id
    ]


def _appeared(store: Store, snapshot: CrmSnapshot, keys: Iterable[str]) -> bool:
    """Whether the phone index holds a record for these keys that the snapshot did not (a lead
    another path wrote, and released its claim, between the snapshot and our claim)."""
    wanted = list(keys)
    if not wanted:
        return False
    seen = {(r.module, r.id) for r in snapshot.records}
    return any((r.module, r.id) not in seen for r in store.index_for_keys(wanted))


def _defer(
    plans: Sequence[CallPlan], lost: Mapping[str, str], phones: Mapping[str, Phone]
) -> list[CallPlan]:
    """The plans whose lead's number another path still holds, deferred to the next run."""
    out = []
    for plan in plans:
        creates = any(w.kind == "lead" and w.op == "insert" for w in plan.writes)
        phone = phones.get(plan.uniqueid)
        if creates and phone is not None and phone.key in lost:
            plan = replace(plan, status=PlanStatus.DEFERRED, reason=Reason.LEAD_IN_PROGRESS.value)
        out.append(plan)
    return out


CALLBACK_FIELDS = ("Status", "Description", "Closed_Time", "Modified_By.id")


async def check_callbacks(
    ctx: RunContext,
    people: People,
    calls: Sequence[Call],
    memory: PlannerMemory | None = None,
) -> int:
    """Read again from Zoho the open call-back tasks of these callers (one COQL query per 50,
    none when no caller has one): a task a person completed or deleted in Zoho is no longer
    open, and the others' current descriptions are what the next line is appended to. Returns
    how many were found closed.

    The call-backs of a client this run's planning has already touched (``memory``: an earlier
    chunk opened, extended or completed one) are not read: for the rest of the run planning
    goes by its own copy of them, and reading them again in every later chunk cost a
    100,000-call day 172 COQL requests."""
    sc = ctx.settings.scenario
    if not (sc.merge_callbacks or sc.complete_callbacks):
        return 0
    touched = memory.callbacks if memory is not None else {}
    known = ctx.store.open_callbacks({c.client.key for c in calls if c.client.key not in touched})
    ids = [cb.task_id for cb in known if cb.task_id]
    if not ids:
        return 0
    rows = await ctx.zoho.records_by_id("Tasks", ids, CALLBACK_FIELDS)
    seen = [_task_state(row) for row in rows]
    found = {state.task_id for state in seen}
    names = {u.id: u.full_name for u in people.users}
    return ctx.store.apply_task_states(seen, [i for i in ids if i not in found], names=names)


def _task_state(row: Mapping[str, Any]) -> TaskState:
    closed = row.get("Closed_Time")
    # COQL answers a lookup's field under its dotted name; a whole lookup as {"id": ...}
    by = row.get("Modified_By.id") or row.get("Modified_By")
    if isinstance(by, Mapping):
        by = by.get("id")
    return TaskState(
        task_id=str(row["id"]),
        status=str(row.get("Status") or ""),
        description=str(row.get("Description") or ""),
        closed_at=_aware(closed) if isinstance(closed, str) else None,
        modified_by=str(by) if by else None,
    )


def _aware(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def check_plans(
    checks: Checks, plans: Sequence[CallPlan], calls: Sequence[Call], people: People
) -> CheckResult:
    return checks.plans(plans, calls, people)


def learner(settings: Settings, clock: Callable[[], datetime]) -> Learn:
    """How the writer tells the phone index about a record it created (Leads, Contacts and
    Deals; tasks and calls are not indexed)."""

    def learn(write: PlannedWrite, zoho_id: str) -> CrmRecord | None:
        if write.module not in MODULES:
            return None
        row: dict[str, Any] = {
            **write.fields,
            "id": zoho_id,
            "Owner": {"id": write.owner_id},
            "Modified_Time": clock().isoformat(timespec="seconds"),
            settings.scenario.sync_key_field: write.sync_key,
        }
        try:
            return record_from_zoho(write.module, row, settings.scenario)
        except RecordShapeError:
            return None

    return learn


async def write_to_zoho(
    ctx: RunContext, plans: Sequence[CallPlan], guard: Callable[[], None] | None = None
) -> WriteReport:
    return await execute_plans(
        plans,
        ctx.zoho,
        ctx.store,
        sync_key_field=ctx.settings.scenario.sync_key_field,
        learn=learner(ctx.settings, ctx.zoho.clock),
        fence=guard,
    )


async def write_leads(
    ctx: RunContext, writes: Sequence[tuple[str, PlannedWrite]], guard: Callable[[], None] | None
) -> WriteReport:
    """Writes that belong to no finished call (the lead at pickup): the calls keep their status."""
    return await execute_writes(
        writes,
        ctx.zoho,
        ctx.store,
        sync_key_field=ctx.settings.scenario.sync_key_field,
        learn=learner(ctx.settings, ctx.zoho.clock),
        fence=guard,
    )


async def update_recordings(
    ctx: RunContext, people: People, uniqueids: Sequence[str], guard: Callable[[], None] | None
) -> WriteReport:
    """Recordings that appeared after a call was synced update its tasks' descriptions."""
    rows = [row for row in (ctx.store.raw_row(uid) for uid in uniqueids) if row is not None]
    calls, _ = parse_rows(rows, ctx.settings)
    writes: list[tuple[str, PlannedWrite]] = []
    snapshot = CrmSnapshot.build(people.users, ())
    for call in calls:
        planned = plan_recording_updates(
            call,
            ctx.store.synced_writes(call.uniqueid),
            ctx.settings,
            people.employees,
            snapshot,
        )
        writes.extend((call.uniqueid, w) for w in _callback_recordings(ctx.store, call, planned))
    if not writes:
        return WriteReport()
    return await execute_writes(
        writes,
        ctx.zoho,
        ctx.store,
        sync_key_field=ctx.settings.scenario.sync_key_field,
        fence=guard,
    )


REBUILD_MODULES = ("Leads", "Tasks", "Calls")
"""The modules callsync writes records into with an ``rs_sync_key``."""


async def rebuild_ledger(ctx: RunContext) -> int:
    """A store that has never recorded a write, over a Zoho that holds records with callsync's
    ``rs_sync_key``: the state store was lost (or callsync moved). The records found are put in
    the ledger as ``success`` (marked ``rebuilt``) before anything is planned, so nothing is
    written twice and no call is relabelled by records its successors created. Returns how many
    records were found; on a new store over an org callsync never wrote to, three small queries
    find none."""
    key_field = ctx.settings.scenario.sync_key_field
    found: list[RebuiltWrite] = []
    for module in REBUILD_MODULES:
        fields = ["id", key_field, "Owner", *(["Status"] if module == "Tasks" else [])]
        try:
            rows = await _all_rows(ctx, module, fields, is_not_null(key_field))
        except (RecordRejected, FatalError) as exc:  # the org has no such field on the module
            log.info("rebuild: %s not read (%s)", module, exc.code)
            continue
        for row in rows:
            key, zoho_id = str(row.get(key_field) or ""), str(row.get("id") or "")
            if not key or not zoho_id:
                continue
            found.append(
                RebuiltWrite(
                    sync_key=key,
                    module=module,
                    zoho_id=zoho_id,
                    kind=_rebuilt_kind(module, key, row),
                    owner_id=lookup_id(row.get("Owner")),
                )
            )
    added = ctx.store.rebuild_ledger(found) if found else 0
    if added:
        log.warning(
            "the state store held no writes but Zoho holds %d records callsync wrote: their "
            "ledger is rebuilt from Zoho (nothing is written twice)",
            added,
        )
    return added


def _rebuilt_kind(module: str, key: str, row: Mapping[str, Any]) -> str:
    if module == "Leads":
        return "lead"
    if module == "Calls":
        return "call"
    return "log_task" if str(row.get("Status") or "") == "Completed" else "open_task"


async def _all_rows(
    ctx: RunContext, module: str, fields: list[str], where: Condition
) -> list[dict[str, Any]]:
    """Every row of a COQL query: a first page of 200 (one credit), then pages of 2,000."""
    rows: list[dict[str, Any]] = []
    offset, limit = 0, FIRST_PAGE
    while True:
        page, more = await ctx.zoho.coql(
            select(module, fields, where, order_by="id", limit=limit, offset=offset)
        )
        rows.extend(page)
        offset += limit
        limit = MAX_LIMIT
        if not more or not page or offset + limit > MAX_ROWS:
            return rows


def _callback_recordings(
    store: Store, call: Call, planned: Sequence[PlannedWrite]
) -> list[PlannedWrite]:
    """The late-recording updates of a call, call-back tasks made safe: a call-back's
    description holds the lines of later calls (merged, reached), so only the call's own part
    is rewritten — its description in the task it opened, its line in the task it was merged
    into (which gains the voicemail link)."""
    own = {w.sync_key.partition("#")[0]: w for w in planned if w.module == "Tasks"}
    opened = store.callbacks_by_task_key(own)
    merge_key = sync_key(call.uniqueid, "task")
    ledger = store.ledger([*opened, merge_key])
    out = [w for w in planned if w.sync_key.partition("#")[0] not in opened]
    for key, row in opened.items():
        write = own[key]
        written = _written_description(ledger.get(key))
        text = with_recording(call, row.description, written, str(write.fields["Description"]))
        if text is not None:
            note = _text_note(call, row, text)
            out.append(replace(write, fields={"Description": text}, callback=note))
    merged = ledger.get(merge_key)
    if merged is None or merged.kind != "callback_merge" or merged.status != "success":
        return out
    task_id = merged.zoho_id or merged.target_id or ""  # an update's answer names its record
    target = store.callbacks_by_task_id([task_id]).get(task_id)
    if target is None or not call.recording_url:
        return out
    line = _written_description(merged).rpartition("\n")[2]
    text = with_recording(call, target.description, line, merged_line_with_voicemail(call, line))
    if text is not None:
        tag = hashlib.sha1(call.recording_url.encode()).hexdigest()[:8]
        out.append(
            PlannedWrite(
                sync_key=f"{merge_key}#recording-{tag}",
                module="Tasks",
                op="update",
                fields={"Description": text},
                owner_id=target.owner_id,
                record_id=target.task_id,
                kind="recording",
                callback=_text_note(call, target, text),
            )
        )
    return out


def _written_description(write: WriteRecord | None) -> str:
    if write is None:
        return ""
    fields = json.loads(write.payload_json or "{}").get("fields") or {}
    return str(fields.get("Description") or "")


def _text_note(call: Call, row: CallbackRecord, text: str) -> CallbackNote:
    phone = Phone(row.e164, row.e164, row.phone_key, row.country_code, bool(row.valid))
    return CallbackNote(
        "text", row.task_key, phone, call.uniqueid, call.started_at, text, row.owner_id
    )


STAGES: dict[str, Callable[..., Any]] = {
    "load-users": load_users,
    "rebuild-ledger": rebuild_ledger,
    "read-calls": read_calls,
    "peek-calls": peek_calls,
    "refresh-phone-index": refresh_phone_index,
    "parse-calls": parse_calls,
    "check-phones": check_phones,
    "check-callbacks": check_callbacks,
    "plan-writes": plan_writes,
    "check-plans": check_plans,
    "write-to-zoho": write_to_zoho,
    "write-leads": write_leads,
    "update-recordings": update_recordings,
}
"""Every stage by the name it runs under (a Prefect task's name in the flows)."""

RETRIED = frozenset(
    {
        "load-users",
        "rebuild-ledger",
        "read-calls",
        "peek-calls",
        "refresh-phone-index",
        "check-callbacks",
        "write-to-zoho",
        "write-leads",
        "update-recordings",
    }
)
"""The stages that talk to a vendor: a whole-stage retry on a transient vendor error is safe
(every write carries its sync key and the ledger remembers it)."""
