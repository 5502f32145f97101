"""Handling inbox events: pickup → the call's lead, after-call → the rest of the call's plan.

Both go through the log sync's own parser, planner and writer (SPEC 12), so a lead written at
pickup is the lead rows 1/2 would create (same ``<uniqueid>/lead`` key, owner, UTM fields), and
the log sync reading the same call later finds every write in the ledger and sends nothing twice.

Who is a client: the phone index (as the last refresh left it, at most ``[webhook]
index_refresh_s`` old) plus a point lookup in Zoho for the batch's phone keys — COQL queries on
Leads and on Contacts whose phone fields end with a key (as many keys per query as COQL's 25
criteria allow), sent together — because a record created seconds ago is not in the index yet.
Records the event's own call created (its ``rs_sync_key``, or the ledger's Zoho id of its lead)
never make the caller "existing" (the planner's call-owned rule).

A point lookup matches the key's digits at the end of the stored value: a phone typed with spaces
inside (``067 111 22 99``) is found by the index, not by the lookup — a record created in the last
``index_refresh_s`` seconds with such a phone can be missed.

Per event kind:

- ``pickup``: in the default mode, for a new client, the lead of the call's matrix row (1 or 2)
  and nothing else. An existing client, an enrich mode, or a row that creates no lead: nothing.
- ``after-call`` / ``outgoing-after-call``: the row is ingested into the state store like a
  call-log row and the call's whole plan is written (a lead written at pickup is reused from the
  ledger). A call the store already finished (the log sync was first) is left alone; an event
  without ``disposition`` is left to the log sync (``incomplete``).

Great Expectations does not run here (its import alone takes seconds); the log sync validates
every call it reads.

An event whose handling raises is ``failed`` in the inbox with the error; the next sync run
handles it again (``finish-webhooks``, :mod:`tasks.webhooks.steps`), and a Prefect retry of that
run does too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from models.call import Call
from models.crm import CrmRecord, CrmSnapshot
from models.plan import CallPlan, CallStatus, PlanStatus
from models.settings import Settings
from models.sync_key import sync_key
from tasks.calls import parse_rows
from tasks.crm_records import RecordShapeError, record_from_zoho
from tasks.crm_sync import CrmView, load_users, refresh_crm
from tasks.scenario import plan_calls
from tasks.store import Store
from tasks.webhooks.events import EventKind, WebhookEvent, pickup_row
from tasks.webhooks.inbox import DONE, FAILED, PENDING, Finished, Inbox
from tasks.zoho.client import ZohoClient, gather_all
from tasks.zoho.coql import MAX_CRITERIA, Condition, any_of, ends_with
from tasks.zoho.index import index_fields
from tasks.zoho.writer import execute_plans, execute_writes

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DONE_CALL_STATUSES = frozenset(
    {CallStatus.SYNCED.value, CallStatus.SKIPPED.value, CallStatus.QUARANTINED.value}
)


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


class CrmSource(Protocol):
    """Where the processor gets users, employees and the phone index."""

    async def view(self) -> CrmView: ...


class LiveCrm:
    """The phone index as the state store holds it, refreshed from Zoho at most every
    ``refresh_s`` seconds (in memory: the sync flow owns the stored index and its watermarks).

    Only the first view waits for Zoho; later refreshes run in the background while events go on
    with the view they have (the point lookup covers what changed since).
    """

    def __init__(
        self, zoho: ZohoClient, store: Store, settings: Settings, *, refresh_s: float
    ) -> None:
        self._zoho, self._store, self._settings = zoho, store, settings
        self._refresh_s = refresh_s
        self._view: CrmView | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    async def _refresh(self) -> None:
        users, top = await load_users(self._zoho, self._settings)
        self._view = await refresh_crm(
            self._zoho, self._store, self._settings, users, top, persist=False
        )
        self._at = time.monotonic()

    async def _refresh_in_background(self) -> None:
        try:
            await self._refresh()
        except Exception:  # the old view serves until the next try
            log.warning("webhooks: refreshing the phone index failed", exc_info=True)
            self._at = time.monotonic()

    async def view(self) -> CrmView:
        async with self._lock:  # concurrent batches share one refresh
            if self._view is None:
                await self._refresh()
            elif time.monotonic() - self._at >= self._refresh_s and (
                self._background is None or self._background.done()
            ):
                self._background = asyncio.create_task(self._refresh_in_background())
            assert self._view is not None
            return self._view


@dataclass(frozen=True)
class FixedCrm:
    """A view already refreshed (the sync flow passes its own)."""

    crm: CrmView

    async def view(self) -> CrmView:
        return self.crm


def _phone_criteria(fields: Sequence[str], keys: Sequence[str]) -> list[Condition]:
    """``any_of`` conditions covering every (field, key), each within COQL's criteria limit."""
    per_query = max(1, MAX_CRITERIA // max(1, len(fields)))
    return [
        any_of(*(ends_with(f, k) for k in keys[i : i + per_query] for f in fields))
        for i in range(0, len(keys), per_query)
    ]


async def lookup_clients(
    zoho: ZohoClient, settings: Settings, keys: Sequence[str]
) -> list[CrmRecord]:
    """Leads and Contacts whose phone fields end with one of ``keys``, straight from Zoho (COQL:
    as many keys per query as the 25-criteria limit allows, the queries sent together). The
    index's fields, so a lead keeps its ``rs_sync_key``."""
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

    queries = [("Leads", w) for w in _phone_criteria(sc.lead_phone_fields, unique)] + [
        ("Contacts", w) for w in _phone_criteria(sc.contact_phone_fields, unique)
    ]
    parts = await gather_all(one(module, where) for module, where in queries)
    return [rec for part in parts for rec in part]


def utc_now() -> datetime:
    return datetime.now(UTC)


REVIVE_AFTER_S = 900.0
"""After Zoho's credits ran out, how long the receiver lets events fail (the sync run finishes
them) before it tries Zoho again: a one-shot run stops for good, a receiver lives for months."""

RUN_ID = "webhook"
"""The ``run_id`` calls handled by the receiver carry in the state store."""


class WebhookProcessor:
    """Handles what waits in the inbox, in batches (pickups first: their latency matters)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        zoho: ZohoClient,
        crm: CrmSource,
        *,
        inbox: Inbox | None = None,
        emit: Emit | None = None,
        clock: Clock = utc_now,
        revive_after_s: float = REVIVE_AFTER_S,
    ) -> None:
        self.settings, self.store, self.zoho, self.crm = settings, store, zoho, crm
        self.inbox = inbox or Inbox(store)
        self._emit_to = emit
        self.clock = clock
        self._revive_after_s = revive_after_s
        self._exhausted_at: float | None = None

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
        for group, step in ((pickups, self._pickups), (rest, self._after_calls)):
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

    async def _snapshot(self, view: CrmView, calls: Sequence[Call]) -> CrmSnapshot:
        """The index plus what Zoho answers now for these callers.

        The planner's call-owned rule (:meth:`CrmSnapshot.created_by`) keeps each call's own
        records out of its match: they carry their ``rs_sync_key`` from Zoho, and the ledger's
        keys of the calls' leads are added for records whose copy shows none.
        """
        hits = await lookup_clients(self.zoho, self.settings, [c.client.key for c in calls])
        replaced = {(r.module, r.id) for r in hits}
        records = [r for r in view.snapshot.records if (r.module, r.id) not in replaced]
        own = self.store.ledger(sync_key(c.uniqueid, "lead") for c in calls)
        ledger_keys = {
            **view.snapshot.ledger_keys,
            **{r.zoho_id: r.sync_key for r in own.values() if r.status == "success" and r.zoho_id},
        }
        return CrmSnapshot.build(view.snapshot.users, [*records, *hits], ledger_keys)

    # -- pickup ----------------------------------------------------------------------------

    async def _pickups(self, events: Sequence[WebhookEvent]) -> list[Handled]:
        sc = self.settings.scenario
        if sc.mode != "default":
            return [self._result(e, DONE, "enrich_mode") for e in events]
        by_uid = {e.uniqueid: e for e in events}
        calls, bad = parse_rows([pickup_row(e) for e in events], self.settings)
        results = [
            self._result(by_uid[u.uniqueid or ""], DONE, f"no_lead:{u.reason}", u.detail)
            for u in bad
        ]
        lead_keys = {c.uniqueid: sync_key(c.uniqueid, "lead") for c in calls}
        ledger = self.store.ledger(lead_keys.values())
        todo: list[Call] = []
        for call in calls:
            rec = ledger.get(lead_keys[call.uniqueid])
            if rec is not None and rec.status == "success":
                results.append(
                    self._result(by_uid[call.uniqueid], DONE, "lead_exists", zoho_id=rec.zoho_id)
                )
            else:
                todo.append(call)
        if not todo:
            return results
        view = await self.crm.view()
        snapshot = await self._snapshot(view, todo)
        plans = plan_calls(todo, snapshot, view.employees, self.settings, now=self.clock())
        writes = []
        for plan in plans:
            event = by_uid[plan.uniqueid]
            lead = next((w for w in plan.writes if w.kind == "lead"), None)
            if plan.status is PlanStatus.PLANNED and lead is not None:
                writes.append((plan.uniqueid, lead))
            elif plan.client_status == "existing":
                results.append(self._result(event, DONE, "existing_client"))
            else:
                why = plan.reason or plan.status.value
                results.append(self._result(event, DONE, f"no_lead:{why}"))
        if writes:
            await execute_writes(writes, self.zoho, self.store, sync_key_field=sc.sync_key_field)
            after = self.store.ledger(w.sync_key for _, w in writes)
            for uid, write in writes:
                rec = after.get(write.sync_key)
                event = by_uid[uid]
                if rec is not None and rec.status == "success":
                    results.append(self._result(event, DONE, "lead_created", zoho_id=rec.zoho_id))
                elif rec is not None and rec.status == "failed":
                    detail = f"{rec.error_code}: {rec.error_message}"
                    results.append(self._result(event, DONE, "lead_rejected", detail))
                else:
                    results.append(self._result(event, FAILED, "outcome_unknown"))
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
        self.store.ingest([e.row for e in todo], run_id=RUN_ID)
        calls, bad = parse_rows([e.row for e in todo], self.settings)
        self.store.record_unprocessable(bad, run_id=RUN_ID)
        plans: list[CallPlan] = []
        if calls:
            view = await self.crm.view()
            snapshot = await self._snapshot(view, calls)
            plans = plan_calls(calls, snapshot, view.employees, self.settings, now=self.clock())
            self.store.record_calls(calls, plans, run_id=RUN_ID)
            await execute_plans(
                plans, self.zoho, self.store, sync_key_field=self.settings.scenario.sync_key_field
            )
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
