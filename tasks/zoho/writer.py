"""The exactly-once Zoho writer: planned writes in, records in Zoho and a ledger that says so.

How one execution goes (SPEC sections 7, 9 and 10; ARCHITECTURE habit 6):

1. The ledger is read for every sync key (and every lead a write links to). A write already
   ``success`` is not sent again: its Zoho id is reused, e.g. to fill the links of a task. An
   insert the planner found in Zoho already (``record_id`` set: the call's own lead, written
   before a crash or by the real-time receiver) is recorded with that id and not sent either.
2. The intent of every other write is recorded (``pending``) before any request.
3. Waves, each waiting for the Zoho ids the next one needs:
   inserts into Leads/Contacts/Deals (one batched insert per module), then — with ``links``
   filled as ``{"id": <zoho id>}`` — inserts into Tasks and Calls, then updates (per module).
   The client splits a module's records into ≤100-record requests; each request's results are
   recorded in the ledger as that request answers (the client's ``on_batch``, on a thread while
   the other requests in flight go on), so a run killed during its writes leaves every answered
   request recorded and its successor sends none again.
   Every text value is cut to its Zoho field's length first (:mod:`.fit`; the client reads
   the fields metadata once per module and keeps it).
4. A record Zoho rejects fails alone, with Zoho's code and message in the ledger; the writes that
   link to it are ``blocked`` (``dependency_failed``). An insert whose outcome stayed unknown
   (the client answers ``OUTCOME_UNKNOWN``) is neither: it stays ``pending``, its dependents
   wait, and its call stays ``pending`` for the next run to finish. A link to *another* call's
   lead that the path creating it has claimed (:mod:`tasks.store.claims`) and not recorded yet
   waits the same way.
   Two updates of one record go in successive requests, in plan order.
5. :func:`execute_plans` then sets each call's final status: ``synced`` when every write of the
   call succeeded, ``failed`` with the first error code otherwise.

``fence`` (optional) is called before every write request and raises when this run may no
longer write — :meth:`tasks.lease.RunLease.check`, which raises ``LeaseLost`` once another run
took the store's run lease over: the run stops before its next write.

A :class:`~tasks.zoho.errors.RetriableError`, ``AuthError`` or ``FatalError`` from the client
propagates: the Prefect task decides about retries. Whatever was recorded stays recorded, and
re-running is safe because every insert carries its unique ``rs_sync_key`` (Zoho answers
``DUPLICATE_DATA`` with the existing id, which the client reports as a success).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio.to_thread

from models.crm import CrmRecord
from models.plan import CallPlan, CallStatus, PlannedWrite, PlanStatus, Reason
from models.sync_key import belongs_to
from tasks.store import Store, WriteOutcome
from tasks.zoho.fit import fit_records

log = logging.getLogger(__name__)

OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
ENTITY_MODULES = ("Leads", "Contacts", "Deals")
"""Inserted first: activities (Tasks, Calls) link to them."""
ACTIVITY_MODULES = ("Tasks", "Calls")

Learn = Callable[[PlannedWrite, str], CrmRecord | None]
"""The record an insert created, as the phone index keeps it (given the write and its Zoho id);
None for writes the index does not hold (tasks, calls)."""

State = Literal["success", "reused", "failed", "blocked", "unknown", "waiting"]
"""``reused``: a ledger hit, not sent. ``unknown``: Zoho may or may not have it (still pending).
``waiting``: not sent because a write it links to is unknown (still pending)."""


class RecordResultLike(Protocol):
    """One record's answer, as :class:`tasks.zoho.client.RecordResult` gives it."""

    @property
    def ok(self) -> bool: ...
    @property
    def id(self) -> str | None: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def duplicate(self) -> bool: ...


OnBatch = Callable[[Sequence[int], Sequence[RecordResultLike]], Awaitable[None] | None]
"""Told about each write request's results as it answers: positions in the records sent, and
their results (:data:`tasks.zoho.client.BatchResults`)."""


class WriterClient(Protocol):
    """What the writer needs of :class:`tasks.zoho.client.ZohoClient` (tests pass a fake).

    A client that never calls ``on_batch`` is fine: what it returns is recorded at the end."""

    async def insert(
        self,
        module: str,
        records: Sequence[Mapping[str, Any]],
        /,
        *,
        sync_key_field: str = ...,
        on_batch: OnBatch | None = ...,
    ) -> Sequence[RecordResultLike]: ...

    async def update(
        self,
        module: str,
        records: Sequence[Mapping[str, Any]],
        /,
        *,
        on_batch: OnBatch | None = ...,
    ) -> Sequence[RecordResultLike]: ...

    async def text_limits(self, module: str, /) -> Mapping[str, int]: ...


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """A write that did not reach Zoho: rejected (Zoho's code) or blocked (``dependency_failed``)."""

    uniqueid: str
    sync_key: str
    module: str
    op: str
    code: str
    message: str


@dataclass
class WriteReport:
    """What one execution did.

    ``counts`` is keyed ``"<Module>/<op>/<state>"`` (e.g. ``"Tasks/insert/success"``), with the
    states of :data:`State`. ``saved_by_ledger`` counts writes not sent because the ledger held
    their Zoho id already; ``duplicates`` the sends Zoho answered "already there" (a rerun after
    a lost answer); ``requests`` the client calls made (each splits into ≤100-record requests).
    ``call_statuses`` counts the final statuses set (``synced``, ``failed``; calls left
    ``pending`` because an outcome is unknown count as ``pending``).
    """

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[WriteFailure] = field(default_factory=list)
    saved_by_ledger: int = 0
    duplicates: int = 0
    requests: int = 0
    call_statuses: dict[str, int] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    """Sync keys whose record Zoho holds after this execution (sent now or found before)."""

    def count(self, module: str, op: str, state: State) -> int:
        return self.counts.get(f"{module}/{op}/{state}", 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "failures": [
                {
                    "uniqueid": f.uniqueid,
                    "sync_key": f.sync_key,
                    "code": f.code,
                    "message": f.message,
                }
                for f in self.failures
            ],
            "saved_by_ledger": self.saved_by_ledger,
            "duplicates": self.duplicates,
            "requests": self.requests,
            "call_statuses": dict(sorted(self.call_statuses.items())),
        }


def uniqueid_of(sync_key: str) -> str:
    """The call of a sync key ``<uniqueid>/<slot>`` (a uniqueid may itself hold a ``/``)."""
    head, sep, _ = sync_key.rpartition("/")
    return head if sep else sync_key


def _phase(write: PlannedWrite) -> int:
    if write.op == "update":
        return 2
    return 0 if write.module in ENTITY_MODULES else 1


def _module_order(module: str) -> tuple[int, str]:
    known = (*ENTITY_MODULES, *ACTIVITY_MODULES)
    return (known.index(module), module) if module in known else (len(known), module)


class _Execution:
    """The state of one execution: Zoho ids known so far and what happened to each write."""

    def __init__(
        self,
        writes: Sequence[tuple[str, PlannedWrite]],
        client: WriterClient,
        store: Store,
        sync_key_field: str,
        learn: Learn | None = None,
        fence: Callable[[], None] | None = None,
    ) -> None:
        self.writes = list(writes)
        self.by_key = {w.sync_key: (uid, w) for uid, w in self.writes}
        if len(self.by_key) != len(self.writes):
            seen: Counter[str] = Counter(w.sync_key for _, w in self.writes)
            dup = sorted(k for k, n in seen.items() if n > 1)
            raise ValueError(f"a sync key is planned more than once: {dup[:5]}")
        self.client = client
        self.store = store
        self.key_field = sync_key_field
        self.learn = learn
        self.fence = fence
        self.ids: dict[str, str] = {}
        self.states: dict[str, State] = {}
        self.pending_deps: set[str] = set()
        """Links to writes of an earlier execution whose outcome is still unknown (pending in
        the ledger): what waits on them waits, it is not blocked."""
        self.codes: dict[str, str] = {}
        self.report = WriteReport()
        self._store_lock = threading.Lock()

    # -- bookkeeping -----------------------------------------------------------------------

    def _count(self, write: PlannedWrite, state: State) -> None:
        key = f"{write.module}/{write.op}/{state}"
        self.report.counts[key] = self.report.counts.get(key, 0) + 1

    def _settle(self, write: PlannedWrite, state: State, code: str = "", message: str = "") -> None:
        self.states[write.sync_key] = state
        self._count(write, state)
        if state in ("success", "reused"):
            self.report.done.add(write.sync_key)
        if state in ("failed", "blocked"):
            self.codes[write.sync_key] = code
            uid = self.by_key[write.sync_key][0]
            self.report.failures.append(
                WriteFailure(uid, write.sync_key, write.module, write.op, code, message)
            )
            log.warning("Zoho %s %s %s: %s", write.module, write.op, write.sync_key, code)

    # -- the steps -------------------------------------------------------------------------

    async def run(self) -> WriteReport:
        deps = {d for _, w in self.writes for d in w.links.values()}
        ledger = self.store.ledger([*self.by_key, *deps])
        for key, rec in ledger.items():
            if rec.status == "success" and rec.zoho_id:
                self.ids[key] = rec.zoho_id
            elif rec.status == "pending" and key not in self.by_key:
                self.pending_deps.add(key)
        foreign = {
            dep
            for uid, write in self.writes
            for dep in write.links.values()
            if dep not in self.by_key and dep not in ledger and not belongs_to(dep, uid)
        }
        if foreign:
            # Another call's lead that the path creating it has claimed and not recorded yet:
            # wait for it (the call stays pending, the next run finds the lead written).
            self.pending_deps |= self.store.claimed_leads(foreign)
        todo: list[PlannedWrite] = []
        for _, write in self.writes:
            if write.sync_key in self.ids:
                self._settle(write, "reused")
                self.report.saved_by_ledger += 1
            else:
                todo.append(write)
        if todo:
            self.store.record_intent([(self.by_key[w.sync_key][0], w) for w in todo])
            todo = self._found_in_crm(todo)
        while todo:
            todo = self._drop_unsendable(todo)
            ready = [w for w in todo if all(d in self.ids for d in w.links.values())]
            if not ready:  # only a cycle of links is left: nothing can ever fill them
                self._block(todo, "links form a cycle")
                break
            phase = min(_phase(w) for w in ready)
            wave = [w for w in ready if _phase(w) == phase]
            await self._send_wave(wave)
            sent = {w.sync_key for w in wave}
            todo = [w for w in todo if w.sync_key not in sent]
        log.info(
            "Zoho writes: %s; %d reused from the ledger",
            dict(sorted(self.report.counts.items())),
            self.report.saved_by_ledger,
        )
        return self.report

    def _found_in_crm(self, todo: list[PlannedWrite]) -> list[PlannedWrite]:
        """Inserts whose record the planner found in Zoho already (``record_id`` set) are done:
        the ledger gets that id and nothing is sent."""
        found = [w for w in todo if w.op == "insert" and w.record_id]
        if not found:
            return todo
        for w in found:
            self.ids[w.sync_key] = str(w.record_id)
            self._settle(w, "reused")
        self.store.record_results(
            [WriteOutcome.success(w.sync_key, str(w.record_id)) for w in found]
        )
        done = {w.sync_key for w in found}
        return [w for w in todo if w.sync_key not in done]

    def _drop_unsendable(self, todo: list[PlannedWrite]) -> list[PlannedWrite]:
        """Block the writes whose links can no longer be filled; park those that must wait."""
        while True:
            pending = {w.sync_key for w in todo}
            blocked: list[tuple[PlannedWrite, str]] = []
            waiting: list[PlannedWrite] = []
            for w in todo:
                missing = [d for d in w.links.values() if d not in self.ids and d not in pending]
                if not missing:
                    continue
                dep = missing[0]
                dep_state = self.states.get(dep)
                if dep_state in ("unknown", "waiting") or dep in self.pending_deps:
                    waiting.append(w)
                else:
                    why = f"depends on {dep}, which has no Zoho id"
                    blocked.append((w, f"{why} ({dep_state or 'not planned, not in the ledger'})"))
            if not blocked and not waiting:
                return todo
            for w in waiting:
                self._settle(w, "waiting")
            for w, why in blocked:
                self._settle(w, "blocked", Reason.DEPENDENCY_FAILED.value, why)
            self.store.record_results([WriteOutcome.blocked(w.sync_key, why) for w, why in blocked])
            gone = {w.sync_key for w in waiting} | {w.sync_key for w, _ in blocked}
            todo = [w for w in todo if w.sync_key not in gone]

    def _block(self, writes: Sequence[PlannedWrite], why: str) -> None:
        for w in writes:
            self._settle(w, "blocked", Reason.DEPENDENCY_FAILED.value, why)
        self.store.record_results([WriteOutcome.blocked(w.sync_key, why) for w in writes])

    async def _send_wave(self, wave: Sequence[PlannedWrite]) -> None:
        modules = sorted({w.module for w in wave}, key=_module_order)
        for module in modules:
            group = [w for w in wave if w.module == module]
            if group[0].op == "insert":
                await self._insert(module, group)
            else:
                await self._update(module, group)

    def _record(self, write: PlannedWrite) -> dict[str, Any]:
        """The record as Zoho receives it: links filled, keeping other keys of a lookup."""
        rec = dict(write.fields)
        for name, dep in write.links.items():
            if name == "id":
                continue  # an update of a record inserted earlier: its id, below
            current = rec.get(name)
            lookup = dict(current) if isinstance(current, Mapping) else {}
            lookup["id"] = self.ids[dep]
            rec[name] = lookup
        if write.op == "insert":
            rec[self.key_field] = write.sync_key
        else:
            rec["id"] = self._target(write)
        return rec

    def _target(self, write: PlannedWrite) -> str | None:
        """The record an update changes: named, or inserted earlier (``links["id"]``)."""
        if write.record_id:
            return write.record_id
        dep = write.links.get("id")
        return self.ids.get(dep) if dep else None

    async def _fitted(self, module: str, group: Sequence[PlannedWrite]) -> list[dict[str, Any]]:
        """The records as Zoho receives them, every text value cut to its field's length."""
        limits = await self.client.text_limits(module)
        records, cut = fit_records([self._record(w) for w in group], limits, keep=(self.key_field,))
        if cut:
            log.info("Zoho %s: %d values cut to their field's length", module, cut)
        return records

    async def _send(
        self,
        group: Sequence[PlannedWrite],
        send: Callable[[OnBatch], Awaitable[Sequence[RecordResultLike]]],
    ) -> None:
        """Send ``group`` through ``send`` (one client call, ≤100 records per request); each
        request's results are applied and recorded in the ledger as that request answers, so a
        run killed meanwhile leaves every answered request recorded."""
        applied: set[int] = set()

        async def on_batch(indices: Sequence[int], results: Sequence[RecordResultLike]) -> None:
            outcomes = self._settle_results([group[i] for i in indices], results)
            applied.update(indices)
            # The ledger's transaction on a thread: the other requests in flight go on meanwhile
            # (the client sends no more than before: this request keeps its place until here).
            await anyio.to_thread.run_sync(self._record_and_fence, outcomes)

        if self.fence is not None:
            with self._store_lock:
                self.fence()
        self.report.requests += 1
        results = await send(on_batch)
        if len(results) != len(group):
            raise ValueError(f"the client answered {len(results)} results for {len(group)} records")
        rest = [i for i in range(len(group)) if i not in applied]
        if rest:  # a client that did not report per request
            self._apply([group[i] for i in rest], [results[i] for i in rest])

    async def _insert(self, module: str, group: Sequence[PlannedWrite]) -> None:
        records = await self._fitted(module, group)
        await self._send(
            group,
            lambda on_batch: self.client.insert(
                module, records, sync_key_field=self.key_field, on_batch=on_batch
            ),
        )

    async def _update(self, module: str, group: Sequence[PlannedWrite]) -> None:
        no_target = [w for w in group if not self._target(w)]
        if no_target:
            why = "an update names no record id"
            for w in no_target:
                self._settle(w, "failed", "MISSING_RECORD_ID", why)
            self.store.record_results(
                [WriteOutcome.failed(w.sync_key, "MISSING_RECORD_ID", why) for w in no_target]
            )
        group = [w for w in group if self._target(w)]
        # Two updates of one record (a call-back extended, then completed) go in successive
        # requests, in plan order: within one request Zoho's order is not documented.
        while group:
            seen: set[str | None] = set()
            batch: list[PlannedWrite] = []
            later: list[PlannedWrite] = []
            for w in group:
                target = self._target(w)
                (later if target in seen else batch).append(w)
                seen.add(target)
            await self._update_batch(module, batch)
            group = later

    async def _update_batch(self, module: str, batch: Sequence[PlannedWrite]) -> None:
        records = await self._fitted(module, batch)
        await self._send(
            batch, lambda on_batch: self.client.update(module, records, on_batch=on_batch)
        )

    def _apply(self, group: Sequence[PlannedWrite], results: Sequence[RecordResultLike]) -> None:
        outcomes = self._settle_results(group, results)
        with self._store_lock:
            self.store.record_results(outcomes)

    def _record_and_fence(self, outcomes: Sequence[WriteOutcome]) -> None:
        """Record one request's outcomes, then check the run may still write (on a thread; one
        at a time: two recordings upserting the same index rows in different orders would
        deadlock on PostgreSQL, and SQLite takes one writer anyway)."""
        with self._store_lock:
            self.store.record_results(outcomes)
            if self.fence is not None:
                self.fence()  # lost the lease meanwhile: what answered is kept, nothing more sent

    def _settle_results(
        self, group: Sequence[PlannedWrite], results: Sequence[RecordResultLike]
    ) -> list[WriteOutcome]:
        """Zoho's answers to ``group`` in this execution's state; the outcomes to record."""
        if len(results) != len(group):
            raise ValueError(f"the client answered {len(results)} results for {len(group)} records")
        outcomes: list[WriteOutcome] = []
        for write, res in zip(group, results, strict=True):
            zoho_id = res.id or (self._target(write) if write.op == "update" else None)
            if res.ok and zoho_id:
                self.ids[write.sync_key] = zoho_id
                self._settle(write, "success")
                self.report.duplicates += int(res.duplicate)
                learned = (
                    self.learn(write, zoho_id) if self.learn and write.op == "insert" else None
                )
                outcomes.append(
                    WriteOutcome.success(write.sync_key, zoho_id, learned, write.callback)
                )
            elif res.code == OUTCOME_UNKNOWN:
                self._settle(write, "unknown")  # the ledger keeps it pending
            else:
                code = res.code or "UNKNOWN"
                message = res.message or ("no record id in a success" if res.ok else "rejected")
                self._settle(write, "failed", code, message)
                outcomes.append(WriteOutcome.failed(write.sync_key, code, message))
        return outcomes

    # -- calls -----------------------------------------------------------------------------

    def call_status(self, plan: CallPlan) -> tuple[CallStatus, str | None] | None:
        """``synced``, ``failed`` with the first error code, or None (an outcome is unknown)."""
        first_error: str | None = None
        for w in plan.writes:
            state = self.states.get(w.sync_key)
            if state in ("unknown", "waiting", None):
                return None
            if state in ("failed", "blocked") and first_error is None:
                first_error = self.codes.get(w.sync_key) or "UNKNOWN"
        if first_error is None:
            return (CallStatus.SYNCED, None)
        return (CallStatus.FAILED, first_error)


async def execute_writes(
    writes: Sequence[PlannedWrite | tuple[str, PlannedWrite]],
    client: WriterClient,
    store: Store,
    *,
    sync_key_field: str = "rs_sync_key",
    learn: Learn | None = None,
    fence: Callable[[], None] | None = None,
) -> WriteReport:
    """Execute writes that belong to no plan (e.g. late-recording updates of synced calls).

    Each item is a write, or (uniqueid, write); a bare write's call is read from its sync key.
    Call statuses are left as they are. ``fence``: see the module docstring.
    """
    pairs = [
        item if isinstance(item, tuple) else (uniqueid_of(item.sync_key), item) for item in writes
    ]
    return await _Execution(pairs, client, store, sync_key_field, learn, fence).run()


async def execute_plans(
    plans: Sequence[CallPlan],
    client: WriterClient,
    store: Store,
    *,
    sync_key_field: str = "rs_sync_key",
    learn: Learn | None = None,
    fence: Callable[[], None] | None = None,
) -> WriteReport:
    """Write every planned call's records to Zoho exactly once and set the calls' statuses.

    Plans that are not ``planned`` (skipped, deferred) are ignored: their status was recorded
    with the plan. A planned call with no writes is ``synced`` at once. ``fence``: see the
    module docstring.
    """
    planned = [p for p in plans if p.status is PlanStatus.PLANNED]
    execution = _Execution(
        [(p.uniqueid, w) for p in planned for w in p.writes],
        client,
        store,
        sync_key_field,
        learn,
        fence,
    )
    report = await execution.run()

    statuses: dict[str, tuple[CallStatus, str | None]] = {}
    attached: dict[str, str] = {}
    for plan in planned:
        status = execution.call_status(plan)
        final = status[0].value if status else CallStatus.PENDING.value
        report.call_statuses[final] = report.call_statuses.get(final, 0) + 1
        if status is not None:
            statuses[plan.uniqueid] = status
        att = plan.attachment
        lead_id = execution.ids.get(att.planned_key or "") if att and att.id is None else None
        if lead_id:
            attached[plan.uniqueid] = lead_id
    if attached:
        store.record_attachments(attached)
    store.finish_calls(statuses)
    return report
