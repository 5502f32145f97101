"""The stages of the pipeline: plain functions, each batch-sized, each named.

Each takes what it works on and returns what it made; none knows the order it runs in (that is
:mod:`tasks.pipeline.run`) or Prefect (that is :mod:`tasks.steps`, which wraps every stage named
in :data:`STAGES` as a task of the same name). A stage handles a Ringostat page, a chunk of a few
thousand calls, or a run's worth of small work — never one call.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.call import Call, Unprocessable
from models.crm import CrmRecord, CrmSnapshot
from models.plan import CallPlan, PlannedWrite
from models.settings import Settings
from tasks.calls import parse_rows, with_first_answerers
from tasks.crm_records import RecordShapeError, record_from_zoho
from tasks.pipeline.checks import CheckResult, Checks
from tasks.pipeline.context import RunContext
from tasks.pipeline.crm import CrmView, People, load_people, refresh_index
from tasks.ringostat.cursor import Window
from tasks.scenario import PlannerMemory, plan_batch, plan_recording_updates
from tasks.store import IngestResult
from tasks.webhooks.inbox import Inbox
from tasks.zoho.index import MODULES, IndexDelta
from tasks.zoho.writer import Learn, WriteReport, execute_plans, execute_writes


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


ROTATION_TRIES = 3


def plan_writes(
    ctx: RunContext,
    calls: Sequence[Call],
    crm: CrmView,
    now: datetime,
    memory: PlannerMemory,
    keep_turn: bool = True,
) -> list[CallPlan]:
    """Plan a chunk: the candidates its phone keys can match, who answered first (a pickup
    webhook's employee), the org's working hours and closed stages, the call-back rotation's
    turn (kept in the store: ``keep_turn``; a turn another process moved meanwhile is read
    again and the chunk planned again)."""
    store, people = ctx.store, crm.people
    snapshot: CrmSnapshot = crm.snapshot({c.client.key for c in calls})
    calls = with_first_answerers(calls, Inbox(store).first_answerers(c.uniqueid for c in calls))
    for _ in range(ROTATION_TRIES):
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
        if not keep_turn or batch.rotation == turn:
            break
        if store.save_rotation_turn(batch.rotation, expected=turn):
            break
    memory.planned_leads, memory.utm_overlay = trial.planned_leads, trial.utm_overlay
    memory.reassigned = trial.reassigned
    return batch.plans


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
        writes.extend(
            (call.uniqueid, w)
            for w in plan_recording_updates(
                call,
                ctx.store.synced_writes(call.uniqueid),
                ctx.settings,
                people.employees,
                snapshot,
            )
        )
    if not writes:
        return WriteReport()
    return await execute_writes(
        writes,
        ctx.zoho,
        ctx.store,
        sync_key_field=ctx.settings.scenario.sync_key_field,
        fence=guard,
    )


STAGES: dict[str, Callable[..., Any]] = {
    "load-users": load_users,
    "read-calls": read_calls,
    "peek-calls": peek_calls,
    "refresh-phone-index": refresh_phone_index,
    "parse-calls": parse_calls,
    "check-phones": check_phones,
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
        "read-calls",
        "peek-calls",
        "refresh-phone-index",
        "write-to-zoho",
        "write-leads",
        "update-recordings",
    }
)
"""The stages that talk to a vendor: a whole-stage retry on a transient vendor error is safe
(every write carries its sync key and the ledger remembers it)."""
