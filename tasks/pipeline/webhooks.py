"""Handling inbox events through the pipeline: pickup → the call's lead, after-call → the rest.

Both run the pipeline's own stages (:meth:`Pipeline.pickup_leads`, :meth:`Pipeline.process`),
so a lead written at pickup is the lead matrix rows 1/2 would create (same ``<uniqueid>/lead``
key, owner, UTM fields), and the log sync reading the same call later finds every write in the
ledger and sends nothing twice.

Who is a client: the phone index in the state store (kept current by the sync runs and by the
receiver's own refresh, :class:`LiveCrm`: on a timer and on Zoho's notifications) plus a point
lookup in Zoho for the batch's phone keys (:class:`PointLookup`: a number however it is typed),
because a record created seconds ago by someone else may not be in the index yet. Records the
event's own call created (its ``rs_sync_key``, or the ledger's Zoho id of its lead) never make
the caller "existing" (the planner's call-owned rule). A lead the log sync is creating for the
same number at this moment (its phone key claimed in the store) is that caller's lead: the
pickup writes nothing (``lead_claimed``).

Per event kind:

- ``pickup``: in the default mode, for a new client, the lead of the call's matrix row (1 or 2)
  and nothing else. An existing client, a number whose lead another path is creating
  (``lead_claimed``), an enrich mode, or a row that creates no lead: nothing.
- ``after-call`` / ``outgoing-after-call``: the row is ingested into the state store like a
  call-log row and the call's whole plan is written (a lead written at pickup is reused from the
  ledger). A call the store already finished (the log sync was first) is left alone; an event
  without ``disposition`` is left to the log sync (``incomplete``).

An event whose handling raises is ``failed`` in the inbox with the error; the next sync run
handles it again (its first stage finishes the inbox), and a Prefect retry of that run does too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from models.call import Call, Unprocessable
from models.crm import CrmRecord
from models.plan import CallPlan, CallStatus, PlanStatus
from models.settings import Settings
from models.sync_key import belongs_to, sync_key
from tasks.crm_records import RecordShapeError, record_from_zoho
from tasks.pipeline.context import RunContext
from tasks.pipeline.crm import CrmView, People, StoredCrm, load_people, refresh_index
from tasks.pipeline.crm_watch import Applied, CrmWatch
from tasks.pipeline.summary import RunSummary
from tasks.scenario import PlannerMemory
from tasks.webhooks.events import EventKind, WebhookEvent, pickup_row
from tasks.webhooks.inbox import DONE, FAILED, PENDING, Finished, Inbox
from tasks.zoho.client import ZohoClient, gather_all
from tasks.zoho.coql import MAX_CRITERIA, Condition, any_of, contains, digits_in_order
from tasks.zoho.errors import FatalError
from tasks.zoho.index import index_fields
from tasks.zoho.writer import WriteReport

if TYPE_CHECKING:
    from tasks.pipeline.run import Log

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DONE_CALL_STATUSES = frozenset(
    {CallStatus.SYNCED.value, CallStatus.SKIPPED.value, CallStatus.QUARANTINED.value}
)
MIN_TICK_S = 0.1
"""The index timer's shortest period (``index_refresh_s = 0`` must not spin on Zoho)."""
RUN_ID = "webhook"
"""The ``run_id`` calls handled by the receiver carry in the state store."""
REVIVE_AFTER_S = 900.0
"""After Zoho's credits ran out, how long the receiver lets events fail (the sync run finishes
them) before it tries Zoho again: a one-shot run stops for good, a receiver lives for months."""


@dataclass(frozen=True, slots=True)
class Handled:
    """One event handled: its outcome and how long after its arrival it was settled."""

    event: WebhookEvent
    status: str
    outcome: str
    detail: str | None = None
    zoho_id: str | None = None
    seconds: float = 0.0

    def finished(self) -> Finished:
        return Finished(self.event.key, self.status, self.outcome, self.detail, self.zoho_id)


Emit = Callable[[Handled], None]


class ChunkRunner(Protocol):
    """What the processor needs of :class:`tasks.pipeline.run.Pipeline`."""

    ctx: RunContext
    log: Log
    emit: Emit | None

    async def process(
        self,
        rows: Sequence[dict[str, Any]],
        crm: CrmView,
        *,
        now: datetime,
        run_id: str,
        memory: PlannerMemory | None = None,
    ) -> RunSummary: ...

    async def pickup_leads(
        self, rows: Sequence[dict[str, Any]], crm: CrmView, *, now: datetime
    ) -> tuple[list[Call], list[Unprocessable], list[CallPlan], WriteReport]: ...


class CrmSource(Protocol):
    """Where the processor gets the view of the CRM for a batch."""

    async def view(self) -> StoredCrm: ...


@dataclass(frozen=True)
class PeopleCrm:
    """The phone index as the store holds it, with users the caller already read (a sync run
    finishing the inbox: its index refresh comes later, the point lookup covers the gap)."""

    store: Any
    people: People

    async def view(self) -> StoredCrm:
        return StoredCrm(self.store, self.people)


class LiveCrm:
    """The receiver's view: users re-read and the stored phone index refreshed from Zoho at
    most every ``refresh_s`` seconds, on a timer of its own (:meth:`keep_current`) and when a
    batch finds the view older than that, so a pickup after a quiet night does not wait for an
    event to bring the index up to date. Where Zoho can reach the receiver, its notifications
    (:attr:`watch`, :mod:`tasks.pipeline.crm_watch`) bring each change at once; the same timer
    keeps that subscription alive."""

    def __init__(
        self, ctx: RunContext, *, refresh_s: float, on_notification: Applied | None = None
    ) -> None:
        self._ctx = ctx
        self._refresh_s = refresh_s
        self._people: People | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()
        self.watch = CrmWatch(ctx, clock=ctx.zoho.clock, on_applied=on_notification)
        self.refreshes = 0
        """Index refreshes done since the receiver started (the timer's and the batches')."""

    async def _refresh(self) -> People:
        ctx = self._ctx
        people = await load_people(ctx.zoho, None, ctx.settings)
        delta = await refresh_index(ctx.zoho, ctx.store, ctx.settings, people)
        self._people, self._at = people, time.monotonic()
        self.refreshes += 1
        log.info(
            "webhooks: phone index refreshed (%d changed, %d deleted)",
            len(delta.records),
            len(delta.deleted),
        )
        return people

    async def view(self) -> StoredCrm:
        async with self._lock:  # concurrent batches share one refresh
            people = self._people
            if people is None or time.monotonic() - self._at >= self._refresh_s:
                try:
                    people = await self._refresh()
                except Exception:
                    if people is None:
                        raise
                    log.warning("webhooks: refreshing the phone index failed", exc_info=True)
                    self._at = time.monotonic()  # the old view serves until the next try
            return StoredCrm(self._ctx.store, people)

    async def keep_current(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Refresh every ``refresh_s`` seconds until cancelled (the receiver's background task),
        and keep the subscription to Zoho's notifications alive."""
        while True:
            try:
                await self.view()
            except Exception:
                log.warning("webhooks: refreshing the phone index failed", exc_info=True)
            try:
                await self.watch.keep_subscribed()
            except Exception:
                log.warning("webhooks: subscribing to Zoho's notifications failed", exc_info=True)
            await sleep(max(self._refresh_s, MIN_TICK_S))


Pattern = Callable[[str, str], Condition]


def _phone_criteria(
    fields: Sequence[str], keys: Sequence[str], pattern: Pattern = digits_in_order
) -> list[Condition]:
    """``any_of`` conditions covering every (field, key), each within COQL's criteria limit."""
    per_query = max(1, MAX_CRITERIA // max(1, len(fields)))
    return [
        any_of(*(pattern(f, k) for k in keys[i : i + per_query] for f in fields))
        for i in range(0, len(keys), per_query)
    ]


REFUSED_PATTERN = frozenset({"INVALID_QUERY", "SYNTAX_ERROR"})
"""What Zoho would answer if it refused a ``like`` pattern with ``%`` between the digits."""


class PointLookup:
    """Leads and Contacts holding one of a batch's phone keys, straight from Zoho.

    A number is found however a person typed it (``+38 (093) 000-10-30``, ``093 000 10 30``,
    ``(093)0001030``, words around it): the COQL condition is ``like '%9%3%0%0%0%1%0%3%0%'``
    (the key's digits in order, anything between them), one per phone field and key, as many
    keys per query as the 25-criteria limit allows, the queries sent together. What it finds
    is read like any CRM value (every number in it, the country guard), so a stray match costs
    a row, never a wrong client. Zoho documents ``%`` as the wildcard of ``like`` and shows it
    at the ends; should an org's Zoho refuse it between digits (``INVALID_QUERY``), the lookup
    goes on with ``like '%<key>%'`` (the digits together) for the receiver's lifetime and says
    so once — the timer's index refresh and Zoho's notifications still bring formatted numbers.
    """

    def __init__(self, zoho: ZohoClient, settings: Settings) -> None:
        self._zoho = zoho
        self._settings = settings
        self._pattern: Pattern = digits_in_order

    async def __call__(self, keys: Sequence[str]) -> list[CrmRecord]:
        try:
            return await lookup_clients(self._zoho, self._settings, keys, pattern=self._pattern)
        except FatalError as exc:
            if exc.code not in REFUSED_PATTERN or self._pattern is contains:
                raise
            log.warning(
                "webhooks: Zoho refused the typed-number lookup (%s); looking up plain digits",
                exc.code,
            )
            self._pattern = contains
            return await lookup_clients(self._zoho, self._settings, keys, pattern=contains)


async def lookup_clients(
    zoho: ZohoClient,
    settings: Settings,
    keys: Sequence[str],
    *,
    pattern: Pattern = digits_in_order,
) -> list[CrmRecord]:
    """Leads and Contacts whose phone fields hold one of ``keys`` (see :class:`PointLookup`).
    The index's fields, so a lead keeps its ``rs_sync_key``."""
    sc = settings.scenario
    unique = sorted(set(keys))

    async def one(module: str, where: Condition) -> list[CrmRecord]:
        fields = list(dict.fromkeys(["id", *index_fields(module, sc)]))
        rows = await zoho.coql_all(module, fields, where, page_size=200)
        out = []
        for row in rows:
            try:
                out.append(record_from_zoho(module, row, sc))
            except RecordShapeError:
                continue
        return out

    queries = [("Leads", w) for w in _phone_criteria(sc.lead_phone_fields, unique, pattern)] + [
        ("Contacts", w) for w in _phone_criteria(sc.contact_phone_fields, unique, pattern)
    ]
    parts = await gather_all(one(module, where) for module, where in queries)
    return [rec for part in parts for rec in part]


def utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookProcessor:
    """Handles what waits in the inbox, in batches (pickups first: their latency matters)."""

    def __init__(
        self,
        pipeline: ChunkRunner,
        crm: CrmSource,
        *,
        inbox: Inbox | None = None,
        emit: Emit | None = None,
        clock: Clock = utc_now,
        revive_after_s: float = REVIVE_AFTER_S,
    ) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.ctx.settings
        self.store = pipeline.ctx.store
        self.zoho = pipeline.ctx.zoho
        self.crm = crm
        self.inbox = inbox or Inbox(self.store)
        self._emit_to = emit
        self.clock = clock
        self._revive_after_s = revive_after_s
        self._exhausted_at: float | None = None
        self._lookup = PointLookup(self.zoho, self.settings)
        self.summary = RunSummary()
        """What the after-call events wrote, added up (the same type a sync run reports)."""

    # -- the loop's one step ---------------------------------------------------------------

    async def handle_waiting(
        self, *, statuses: Sequence[str] = (PENDING,), limit: int = 500
    ) -> list[Handled]:
        """Handle up to ``limit`` waiting events; each ends ``done`` or ``failed`` in the inbox."""
        return await self.handle(self.inbox.waiting(statuses=statuses, limit=limit))

    async def handle(self, events: Sequence[WebhookEvent]) -> list[Handled]:
        """Handle these events (pickups first); each ends ``done`` or ``failed`` in the inbox."""
        self._revive_zoho()
        pickups = [e for e in events if e.kind is EventKind.PICKUP]
        rest = [e for e in events if e.kind is not EventKind.PICKUP]
        handled: list[Handled] = []
        steps: tuple[tuple[list[WebhookEvent], Callable[..., Awaitable[list[Handled]]]], ...] = (
            (pickups, self._pickups),
            (rest, self._after_calls),
        )
        for group, step in steps:
            if not group:
                continue
            try:
                results = await step(group)
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}"[:500]
                log.warning(
                    "webhooks: %d events failed (%s); the next sync run retries them",
                    len(group),
                    type(exc).__name__,
                )
                results = [self._result(e, FAILED, "error", detail) for e in group]
            self.inbox.finish([r.finished() for r in results])
            for r in results:
                self._emit(r)
            handled.extend(results)
        return handled

    async def drain(self, *, retry_failed: bool = False) -> list[Handled]:
        """Everything pending (and, with ``retry_failed``, everything that failed before)."""
        handled: list[Handled] = []
        if retry_failed:
            handled += await self.handle_waiting(statuses=(FAILED,), limit=100_000)
        while batch := await self.handle_waiting():
            handled += batch
        return handled

    # -- helpers ---------------------------------------------------------------------------

    def _revive_zoho(self) -> None:
        """The Zoho client stops for good once the credits are spent (right for a run); the
        receiver tries again after :data:`REVIVE_AFTER_S`."""
        if self.zoho.exhausted is None:
            self._exhausted_at = None
            return
        now = time.monotonic()
        if self._exhausted_at is None:
            self._exhausted_at = now
        if now - self._exhausted_at >= self._revive_after_s:
            log.warning("webhooks: trying Zoho again after its credits ran out")
            self.zoho.exhausted = None
            self._exhausted_at = None

    def _result(
        self,
        event: WebhookEvent,
        status: str,
        outcome: str,
        detail: str | None = None,
        zoho_id: str | None = None,
    ) -> Handled:
        seconds = (self.clock() - event.received_at).total_seconds()
        return Handled(event, status, outcome, detail, zoho_id, seconds)

    def _emit(self, handled: Handled) -> None:
        if self._emit_to is None:
            return
        try:
            self._emit_to(handled)
        except Exception:
            log.warning("webhooks: could not report event %s", handled.event.key, exc_info=True)

    async def _view(self, calls: Sequence[Call]) -> StoredCrm:
        """The stored index, overlaid with what Zoho answers now for these callers."""
        view = await self.crm.view()
        hits = await self._lookup([c.client.key for c in calls])
        return view.with_overlay(hits)

    # -- pickup ----------------------------------------------------------------------------

    async def _pickups(self, events: Sequence[WebhookEvent]) -> list[Handled]:
        if self.settings.scenario.mode != "default":
            return [self._result(e, DONE, "enrich_mode") for e in events]
        by_uid = {e.uniqueid: e for e in events}
        rows = [pickup_row(e) for e in events]
        lead_keys = {uid: sync_key(uid, "lead") for uid in by_uid}
        ledger = self.store.ledger(lead_keys.values())
        results: list[Handled] = []
        todo = []
        for row in rows:
            uid = str(row.get("uniqueid") or "")
            rec = ledger.get(lead_keys.get(uid, ""))
            if rec is not None and rec.status == "success":
                results.append(self._result(by_uid[uid], DONE, "lead_exists", zoho_id=rec.zoho_id))
            else:
                todo.append(row)
        if not todo:
            return results
        from tasks.calls import parse_rows  # the keys the point lookup needs, before planning

        parsed, _ = parse_rows(todo, self.settings)
        crm = await self._view(parsed)
        _calls, bad, plans, _report = await self.pipeline.pickup_leads(todo, crm, now=self.clock())
        results += [
            self._result(by_uid[u.uniqueid or ""], DONE, f"no_lead:{u.reason}", u.detail)
            for u in bad
        ]
        written = [p for p in plans if any(w.kind == "lead" for w in p.writes)]
        after = self.store.ledger(w.sync_key for p in written for w in p.writes if w.kind == "lead")
        for plan in plans:
            event = by_uid[plan.uniqueid]
            lead = next((w for w in plan.writes if w.kind == "lead"), None)
            if plan.status is PlanStatus.PLANNED and lead is not None:
                rec = after.get(lead.sync_key)
                if rec is not None and rec.status == "success":
                    results.append(self._result(event, DONE, "lead_created", zoho_id=rec.zoho_id))
                elif rec is not None and rec.status == "failed":
                    detail = f"{rec.error_code}: {rec.error_message}"
                    results.append(self._result(event, DONE, "lead_rejected", detail))
                else:
                    results.append(self._result(event, FAILED, "outcome_unknown"))
            elif _claimed_elsewhere(plan):
                # the log sync (or another event) is creating this number's lead right now
                results.append(self._result(event, DONE, "lead_claimed"))
            elif plan.client_status == "existing":
                results.append(self._result(event, DONE, "existing_client"))
            else:
                why = plan.reason or plan.status.value
                results.append(self._result(event, DONE, f"no_lead:{why}"))
        return results

    # -- after the call --------------------------------------------------------------------

    async def _after_calls(self, events: Sequence[WebhookEvent]) -> list[Handled]:
        latest = {e.uniqueid: e for e in events}  # after-call and outgoing of one call: the last
        results = [
            self._result(e, DONE, "superseded") for e in events if latest[e.uniqueid] is not e
        ]
        todo: list[WebhookEvent] = []
        for event in latest.values():
            rec = self.store.call(event.uniqueid)
            if not event.row.get("disposition"):
                results.append(self._result(event, DONE, "incomplete", "no disposition"))
            elif rec is not None and rec.status in DONE_CALL_STATUSES:
                results.append(self._result(event, DONE, f"already_{rec.status}"))
            else:
                todo.append(event)
        if not todo:
            return results
        rows = [dict(e.row) for e in todo]
        self.store.ingest(rows, run_id=RUN_ID)
        from tasks.calls import parse_rows

        parsed, _ = parse_rows(rows, self.settings)
        crm = await self._view(parsed)
        self.summary += await self.pipeline.process(rows, crm, now=self.clock(), run_id=RUN_ID)
        for event in todo:
            rec = self.store.call(event.uniqueid)
            status = rec.status if rec is not None else "missing"
            if status == CallStatus.PENDING.value:
                results.append(self._result(event, FAILED, "outcome_unknown"))
                continue
            outcome = (
                status if status == CallStatus.SYNCED.value else f"{status}:{rec and rec.reason}"
            )
            results.append(
                self._result(event, DONE, outcome, zoho_id=rec.attached_id if rec else None)
            )
        return results


def _claimed_elsewhere(plan: CallPlan) -> bool:
    """The call is attached to a lead another call is creating (not its own, not in Zoho)."""
    att = plan.attachment
    return (
        att is not None
        and att.id is None
        and att.planned_key is not None
        and not belongs_to(att.planned_key, plan.uniqueid)
    )


async def finish_inbox(pipeline: ChunkRunner, people: People) -> RunSummary:
    """Handle what waits in the inbox (pending, and failed before): a sync run's first stage.
    The summary counts the events by ``<event>/<status>/<outcome>`` and adds what they wrote."""
    store = pipeline.ctx.store
    inbox = Inbox(store)
    if not inbox.waiting(statuses=(PENDING, FAILED), limit=1):
        return RunSummary()
    processor = WebhookProcessor(
        pipeline, PeopleCrm(store, people), inbox=inbox, emit=pipeline.emit
    )
    counts: dict[str, int] = {}
    for handled in await processor.drain(retry_failed=True):
        key = f"{handled.event.kind.value}/{handled.status}/{handled.outcome}"
        counts[key] = counts.get(key, 0) + 1
    return processor.summary + RunSummary(webhook_events=counts)
