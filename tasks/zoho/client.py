"""The Zoho CRM v8 client: async, transport injected, retries in this one layer.

Quirks handled (Zoho CRM v8 API documentation):

- OAuth: see :mod:`tasks.zoho.auth` (HTTP 200 with ``{"error"}``, ``expires_in`` units, 10 tokens
  per 10 minutes, ``api_domain`` from the token answer). A 401 ``INVALID_TOKEN`` or
  ``AUTHENTICATION_FAILURE`` refreshes the token once, then is fatal.
- 429 ``TOO_MANY_REQUESTS`` comes with no ``Retry-After`` and no rate headers: exponential backoff
  with full jitter (:class:`tasks.vendor.backoff.Backoff`), for 429, 5xx and transport errors
  only, never a 4xx, at most ``max_retries``.
- The same 429 also means "the 24-hour credit budget is spent". That is told apart by its message,
  or by a 429 that persists (:data:`LONE_429_LIMIT` answers in a row) while this client had one
  request in flight — too many in flight cannot be the reason then. It raises
  :class:`CreditsExhausted` and the client sends nothing more: every later request fails at once
  with the same error, so a run stops within one request.
- Concurrency per org is small (5 on the lowest edition, 10 for "complex" calls): an asyncio
  semaphore caps requests in flight at ``max_concurrency``, and the org's slots in the state
  store (:mod:`.org_slots`) cap every process of the tenant together; backoff sleeps outside.
- Writes take at most 100 records: inserts and updates are split and the batches sent
  concurrently; results are mapped back to the input order one by one, and each request's
  results are handed to the caller's ``on_batch`` as soon as it answers.
- A write's status (201 all inserted, 207 mixed, 400 all failed) says little: every item of
  ``data`` carries its own ``status``/``code``. ``DUPLICATE_DATA`` on the sync-key field (unique in
  the org) means "already written" and counts as success with ``duplicate_record.id``.
- A lost answer to an insert (transport error after sending) is resolved by a COQL lookup of the
  batch's sync keys (COQL sees a record at once; the search API lags), then only the missing
  records are re-sent.
- ``trigger``: leaving it out runs the org's workflows, approvals and blueprints, ``[]`` runs none;
  ``zoho.trigger`` decides (default: left out, Zoho's own behaviour).
- 204 with an empty body means "nothing" for COQL, search, users, fields; 304 answers
  ``If-Modified-Since`` when nothing changed.
- Listing: ``fields`` is mandatory, 200 per page, ``page`` up to 2,000 records then
  ``page_token`` from ``info.next_page_token``; users come under ``users``, not ``data``.
- COQL: 2,000 rows per call, 100,000 through ``offset``; ``in`` ≤ 50 values (see :mod:`.coql`).
- Credits (for :attr:`ZohoClient.stats`): 1 per call, writes 1 per 10 records, COQL 1/2/3 by
  ``limit`` (≤200/≤1,000/≤2,000). Answers 429 and 5xx are counted as requests, not credits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

import anyio
import httpx

from models.call import mask_phone
from models.crm import ZOHO_DEFAULT_CLOSED_STAGES
from models.hours import WorkingHours
from models.settings import ZohoSettings
from tasks.vendor.backoff import Backoff, Sleep
from tasks.zoho.auth import AccessToken, Clock, ZohoAuth
from tasks.zoho.coql import (
    MAX_IN,
    MAX_LIMIT,
    MAX_ROWS,
    Condition,
    CoqlError,
    api_name,
    in_,
    limit_of,
    select,
    sync_key,
    valid_id,
    valid_phone,
    valid_sync_key,
    zoho_id,
)
from tasks.zoho.errors import (
    AuthError,
    CreditsExhausted,
    FatalError,
    OutcomeUnknown,
    RecordRejected,
    RetriableError,
    ZohoError,
    classify,
    from_transport_error,
    response_json,
)
from tasks.zoho.fit import text_limits
from tasks.zoho.org_settings import OrgSettingsError, closed_stages, working_hours
from tasks.zoho.org_slots import OrgSlots
from tasks.zoho.token_store import SharedTokens

log = logging.getLogger(__name__)

T = TypeVar("T")

LONE_429_LIMIT = 3
"""429s in a row, each with a single request in flight, that mean a spent credit budget."""
PER_PAGE = 200
PAGE_LIMIT = 2000
"""Records reachable through ``page``; past them Zoho wants ``page_token``."""


METADATA_MAX_AGE = timedelta(hours=1)
"""How long fields metadata and business hours are kept between runs."""
HOURS = "business_hours"


class MetadataCache(Protocol):
    """Where org metadata is kept between runs (the state store)."""

    def cache_get(self, name: str, max_age: timedelta) -> Any | None: ...
    def cache_put(self, name: str, value: Any) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What happened to one record of a write, in the input's order.

    ``duplicate``: the record existed already (found through the sync key: Zoho's
    ``DUPLICATE_DATA`` on that field, or the lookup after a lost answer); ``id`` is then the
    existing record's id and ``ok`` is True.
    """

    ok: bool
    id: str | None
    code: str
    message: str
    details: Mapping[str, Any]
    duplicate: bool = False


@dataclass
class ClientStats:
    """Requests sent and credits spent by Zoho's rules (token requests are not CRM calls)."""

    requests: int = 0
    credits: int = 0
    retries: int = 0
    by_route: Counter[str] = field(default_factory=Counter)


BatchResults = Callable[[Sequence[int], Sequence[RecordResult]], Awaitable[None] | None]
"""Called as each write request answers, before the next one is sent when requests go one at a
time: the positions (in the records passed) of that request's records, and their results. A
writer records them at once, so a run killed meanwhile has every answered request in its
ledger (progress per request, not per module). It may be a coroutine function (the writer's
records on a thread, so that the other requests in flight go on meanwhile): the request keeps
its place among the client's ``max_concurrency`` until it has returned."""


def write_credits(records: int) -> int:
    return max(1, math.ceil(records / 10))


def coql_credits(limit: int) -> int:
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _tell(
    on_batch: BatchResults | None, indices: Sequence[int], answers: Sequence[RecordResult]
) -> None:
    """Hand one request's results to ``on_batch`` (awaiting it when it is a coroutine)."""
    if on_batch is not None and (pending := on_batch(indices, answers)) is not None:
        await pending


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently (the client's semaphore sets the pace); the first failure cancels the rest."""

    async def run(aw: Awaitable[T]) -> T:
        return await aw

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(aw)) for aw in awaitables]
    except BaseExceptionGroup as eg:
        first: BaseException = eg
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


def _since_header(since: datetime | None) -> dict[str, str]:
    if since is None:
        return {}
    if since.tzinfo is None:
        raise ValueError("modified_since must be timezone-aware")
    return {"If-Modified-Since": since.isoformat(timespec="seconds")}


class ZohoClient:
    """One Zoho org. ``http`` carries the transport (real, mock or emulator); it is not closed here."""

    def __init__(
        self,
        settings: ZohoSettings,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = anyio.sleep,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        tokens: SharedTokens | None = None,
        cache: MetadataCache | None = None,
        org_slots: OrgSlots | None = None,
    ) -> None:
        self._settings = settings
        self._org_slots = org_slots
        self._cache = cache
        self._http = http
        self.clock = clock
        self._backoff = Backoff(
            settings.backoff_base_s,
            settings.backoff_max_s,
            jitter="full",  # Zoho's 429 is mostly a crowd in flight: spread the retries wide
            sleep=sleep,
            rng=rng or random.Random(),
        )
        self._auth = ZohoAuth(settings, http, clock=clock, shared=tokens, sleep=sleep)
        # Never more in flight than the org allows: past it, a request would only poll the
        # store for a slot this process itself holds.
        allowed = (
            min(settings.max_concurrency, org_slots.slots)
            if org_slots
            else settings.max_concurrency
        )
        self._slots = asyncio.Semaphore(allowed)
        # A write request and the recording of its answer (``on_batch``) hold one of these:
        # with one request at a time, the next is sent only once the last one is recorded.
        self._writes = asyncio.Semaphore(allowed)
        self._in_flight = 0
        self._lone_429s = 0
        self.exhausted: CreditsExhausted | None = None
        """Set once the credit budget is known to be spent: nothing more is sent."""
        self._limits: dict[str, Mapping[str, int]] = {}
        self._limits_lock = asyncio.Lock()
        self.stats = ClientStats()

    def __repr__(self) -> str:
        return f"ZohoClient(api_domain={self.api_domain!r}, stats={self.stats!r})"

    @property
    def api_domain(self) -> str:
        return self._auth.api_domain

    @property
    def token_requests(self) -> int:
        return self._auth.refreshes

    async def access_token(self) -> AccessToken:
        """A valid token (cached or fresh): the doctor's first check."""
        return await self._auth.token()

    # -- the one request path -------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        route: str,
        credits: int,
        idempotent: bool,
        headers: Mapping[str, str],
        options: Mapping[str, Any],
    ) -> tuple[httpx.Response | None, ZohoError | None, AccessToken | None]:
        """One attempt, holding a concurrency slot (and one of the org's, when they are shared
        with other processes): (answer, its error, the token used)."""
        async with self._slots, self._org_slot():
            try:
                token = await self._auth.token()
            except ZohoError as exc:  # the token endpoint's 5xx and timeouts are retried too
                return None, exc, None
            if self.exhausted is not None:
                return None, self.exhausted, None
            self.stats.requests += 1
            self.stats.by_route[route] += 1
            self._in_flight += 1
            alone = self._in_flight == 1
            try:
                response = await self._http.request(
                    method,
                    f"{self._auth.api_domain}{path}",
                    headers={**headers, "Authorization": f"Zoho-oauthtoken {token.value}"},
                    timeout=self._settings.timeout_s,
                    **options,
                )
            except httpx.TransportError as exc:
                lost = from_transport_error(exc, idempotent=idempotent)
                lost.__cause__ = exc
                return None, lost, token
            finally:
                self._in_flight -= 1
        err = self._judge(classify(response), alone=alone)
        if not isinstance(err, (RetriableError, CreditsExhausted)):  # refused: not charged
            self.stats.credits += credits
        return response, err, token

    def _org_slot(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self._org_slots.held() if self._org_slots else contextlib.nullcontext()

    def _judge(self, err: ZohoError | None, *, alone: bool) -> ZohoError | None:
        """Tell a spent credit budget from too many requests in flight (see the docstring)."""
        if isinstance(err, RetriableError) and err.status == 429:
            self._lone_429s = self._lone_429s + 1 if alone else 0
            if self._lone_429s >= LONE_429_LIMIT:
                err = CreditsExhausted(
                    f"{err.message} (a 429 {self._lone_429s} times in a row with a single "
                    "request in flight: the 24-hour API credit budget is spent)",
                    code=err.code,
                    status=err.status,
                )
        elif err is None or err.status != 429:
            self._lone_429s = 0
        if isinstance(err, CreditsExhausted) and self.exhausted is None:
            self.exhausted = err
            log.error("Zoho: the org's API credits are spent; callsync stops writing: %s", err)
        return err

    async def _request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        credits: int = 1,
        idempotent: bool = True,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with auth, the concurrency cap and retries; return a non-error answer or raise."""
        options: dict[str, Any] = {}
        if params is not None:
            options["params"] = dict(params)
        if json is not None:
            options["json"] = json
        refreshed = False
        attempt = 0
        while True:
            response, err, token = await self._send(
                method,
                path,
                route=route,
                credits=credits,
                idempotent=idempotent,
                headers=headers or {},
                options=options,
            )
            if err is None:
                assert response is not None
                return response
            if isinstance(err, AuthError) and err.refreshable and not refreshed and token:
                refreshed = True  # refresh once (on the next attempt); a second refusal is fatal
                self._auth.discard(token)
                continue
            if isinstance(err, RetriableError) and attempt < self._settings.max_retries:
                self.stats.retries += 1
                await self._backoff.pause(
                    attempt, why=f"Zoho {route}: {err}", retries=self._settings.max_retries
                )
                attempt += 1
                continue
            if isinstance(err, AuthError) and err.refreshable:
                raise AuthError(
                    f"Zoho refused a freshly minted access token ({err.code}): check the org, "
                    "the data centre (zoho.api_domain) and the scopes of zoho.refresh_token",
                    code=err.code,
                    status=err.status,
                    details=err.details,
                )
            raise err

    def _json(self, response: httpx.Response) -> Mapping[str, Any]:
        body = response_json(response)
        if not isinstance(body, Mapping):
            raise FatalError(
                "Zoho answered without a JSON object",
                code="BAD_ANSWER",
                status=response.status_code,
            )
        return body

    # -- writes ---------------------------------------------------------------------------

    def _write_body(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"data": [dict(r) for r in records]}
        if self._settings.trigger is not None:
            body["trigger"] = list(self._settings.trigger)  # left out, Zoho runs its automation
        return body

    def _items(self, response: httpx.Response, expected: int) -> list[Mapping[str, Any]]:
        data = self._json(response).get("data")
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise FatalError(
                f"Zoho answered {got} results for {expected} records",
                code="BAD_ANSWER",
                status=response.status_code,
            )
        return [item if isinstance(item, Mapping) else {} for item in data]

    @staticmethod
    def _result(item: Mapping[str, Any], sync_key_field: str | None) -> RecordResult:
        raw = item.get("details")
        details: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        err = classify(item)
        if err is None:
            rid = details.get("id")
            return RecordResult(
                True, str(rid) if rid else None, str(item.get("code", "SUCCESS")),
                str(item.get("message", "")), details,
            )  # fmt: skip
        if (
            err.code == "DUPLICATE_DATA"
            and sync_key_field
            and details.get("api_name") == sync_key_field
        ):
            dup = details.get("duplicate_record")
            dup_id = dup.get("id") if isinstance(dup, Mapping) else None
            if dup_id:
                return RecordResult(True, str(dup_id), err.code, err.message, details, True)
        return RecordResult(False, None, err.code, err.message, err.details)

    async def insert(
        self,
        module: str,
        records: Sequence[Mapping[str, Any]],
        *,
        sync_key_field: str = "rs_sync_key",
        on_batch: BatchResults | None = None,
    ) -> list[RecordResult]:
        """Insert records (≤100 per call, batches concurrent); one result per record, in order.

        A record whose sync key could not go into a COQL lookup (the way a lost answer is
        resolved) is not sent: its result is ``INVALID_SYNC_KEY``, the others go on.
        ``on_batch`` hears each request's results as it answers (see :data:`BatchResults`).
        """
        api_name(module)
        results: list[RecordResult | None] = [None] * len(records)
        sendable = []
        for i, rec in enumerate(records):
            key = rec.get(sync_key_field)
            try:
                if key:
                    valid_sync_key(str(key))
            except CoqlError as exc:
                results[i] = RecordResult(
                    False, None, "INVALID_SYNC_KEY", str(exc), {"api_name": sync_key_field}
                )
            else:
                sendable.append(i)
        unsent = [i for i, r in enumerate(results) if r is not None]
        if unsent:
            await _tell(on_batch, unsent, [r for r in results if r is not None])

        async def one(indices: Sequence[int]) -> None:
            batch = [records[i] for i in indices]
            async with self._writes:
                answers = await self._insert_batch(module, batch, sync_key_field)
                for i, result in zip(indices, answers, strict=True):
                    results[i] = result
                await _tell(on_batch, indices, answers)

        await gather_all(one(b) for b in _chunks(sendable, self._settings.write_batch))
        answered = [r for r in results if r is not None]
        assert len(answered) == len(records)  # every record got exactly one result
        return answered

    async def _insert_batch(
        self, module: str, batch: Sequence[Mapping[str, Any]], key_field: str
    ) -> list[RecordResult]:
        results: list[RecordResult | None] = [None] * len(batch)
        pending = list(range(len(batch)))
        lost = ""
        # Each lost answer is resolved by a lookup; the re-send of what is missing may be lost too.
        for _ in range(self._settings.max_retries + 1):
            subset = [batch[i] for i in pending]
            try:
                response = await self._request(
                    "POST",
                    f"/crm/v8/{module}",
                    route="POST /crm/v8/{module}",
                    credits=write_credits(len(subset)),
                    idempotent=False,
                    json=self._write_body(subset),
                )
            except OutcomeUnknown as exc:
                lost = str(exc)
                pending = await self._resolve_lost(module, batch, pending, key_field, results, lost)
                if not pending:
                    break
                continue
            for i, item in zip(pending, self._items(response, len(subset)), strict=True):
                results[i] = self._result(item, key_field)
            pending = []
            break
        return [
            r or RecordResult(False, None, "OUTCOME_UNKNOWN", f"answer lost: {lost}", {})
            for r in results
        ]

    async def _resolve_lost(
        self,
        module: str,
        batch: Sequence[Mapping[str, Any]],
        pending: list[int],
        key_field: str,
        results: list[RecordResult | None],
        why: str,
    ) -> list[int]:
        """Fill in the records a lost insert did write; return those still to send."""
        keys = {i: str(batch[i][key_field]) for i in pending if batch[i].get(key_field)}
        for i in pending:
            if i not in keys:  # without a key, re-sending could duplicate: report, do not guess
                results[i] = RecordResult(False, None, "OUTCOME_UNKNOWN", why, {})
        found = await self.find_by_sync_keys(module, list(keys.values()), field=key_field)
        missing = []
        for i, key in keys.items():
            if key in found:
                results[i] = RecordResult(
                    True, found[key], "SUCCESS", "written; found by its sync key after a lost answer",
                    {"id": found[key], "api_name": key_field}, True,
                )  # fmt: skip
            else:
                missing.append(i)
        log.warning(
            "Zoho insert into %s: answer lost; %d of %d found by sync key, re-sending %d",
            module, len(keys) - len(missing), len(pending), len(missing),
        )  # fmt: skip
        return missing

    async def update(
        self,
        module: str,
        records: Sequence[Mapping[str, Any]],
        *,
        on_batch: BatchResults | None = None,
    ) -> list[RecordResult]:
        """Update records (each has ``id``); ≤100 per call; one result per record, in order.
        ``on_batch`` hears each request's results as it answers (see :data:`BatchResults`)."""
        api_name(module)
        for rec in records:
            valid_id(str(rec.get("id", "")))

        async def one(indices: Sequence[int]) -> list[RecordResult]:
            async with self._writes:
                answers = await self._update_batch(module, [records[i] for i in indices])
                await _tell(on_batch, indices, answers)
            return answers

        done = await gather_all(
            one(b) for b in _chunks(range(len(records)), self._settings.write_batch)
        )
        return [r for batch in done for r in batch]

    async def _update_batch(
        self, module: str, batch: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        # Setting the same values twice is harmless: an update is retried like a read.
        response = await self._request(
            "PUT",
            f"/crm/v8/{module}",
            route="PUT /crm/v8/{module}",
            credits=write_credits(len(batch)),
            json=self._write_body(batch),
        )
        return [self._result(item, None) for item in self._items(response, len(batch))]

    async def convert_lead(
        self, lead_id: str, *, deal: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Convert a lead; returns Zoho's ``details`` (``Contacts``, ``Deals``, ``Accounts`` ids).

        Raises :class:`RecordRejected` with Zoho's code when Zoho refuses this lead, and
        :class:`OutcomeUnknown` when the answer was lost (re-read the lead's ``Converted__s``).
        """
        valid_id(lead_id)
        item: dict[str, Any] = {"Deals": dict(deal)} if deal else {}
        response = await self._request(
            "POST",
            f"/crm/v8/Leads/{lead_id}/actions/convert",
            route="POST /crm/v8/Leads/{id}/actions/convert",
            idempotent=False,
            json={"data": [item]},
        )
        (answer,) = self._items(response, 1)
        err = classify(answer)
        if err is not None:
            raise err
        details = answer.get("details")
        return dict(details) if isinstance(details, Mapping) else {}

    # -- reads ----------------------------------------------------------------------------

    async def coql(self, query: str) -> tuple[list[dict[str, Any]], bool]:
        """One page of a COQL query (build it with :mod:`tasks.zoho.coql`): rows, more_records."""
        response = await self._request(
            "POST",
            "/crm/v8/coql",
            route="POST /crm/v8/coql",
            credits=coql_credits(limit_of(query)),
            json={"select_query": query},
        )
        if response.status_code == 204:
            return [], False
        body = self._json(response)
        info = body.get("info")
        more = bool(info.get("more_records")) if isinstance(info, Mapping) else False
        return [dict(row) for row in body.get("data") or []], more

    async def coql_all(
        self,
        module: str,
        fields: Sequence[str],
        where: Condition,
        *,
        order_by: str | None = None,
        page_size: int = MAX_LIMIT,
    ) -> list[dict[str, Any]]:
        """Every row of a query, paging with ``offset`` (COQL reaches 100,000 rows at most)."""
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            if offset + page_size > MAX_ROWS:
                raise FatalError(
                    f"COQL query on {module} matches more than {MAX_ROWS} rows: narrow it",
                    code="LIMIT_EXCEEDED",
                )
            query = select(module, fields, where, order_by=order_by, limit=page_size, offset=offset)
            page, more = await self.coql(query)
            rows.extend(page)
            if not more or not page:
                return rows
            offset += page_size

    async def find_by_sync_keys(
        self, module: str, keys: Iterable[str], *, field: str = "rs_sync_key"
    ) -> dict[str, str]:
        """``{sync key: record id}`` for the keys that exist (COQL ``in``, ≤50 per query)."""
        unique = sorted(set(keys))
        if not unique:
            return {}
        queries = [in_(field, [sync_key(k) for k in chunk]) for chunk in _chunks(unique, MAX_IN)]
        pages = await gather_all(
            self.coql_all(module, ["id", field], where, page_size=200) for where in queries
        )
        return {str(row[field]): str(row["id"]) for rows in pages for row in rows if row.get(field)}

    async def records_by_id(
        self, module: str, ids: Iterable[str], fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The records of ``module`` among ``ids`` that exist (COQL ``id in``, ≤50 per query,
        the queries sent together): a deleted record is simply not answered."""
        unique = sorted(set(ids))
        if not unique:
            return []
        names = list(dict.fromkeys(["id", *fields]))
        queries = [in_("id", [zoho_id(i) for i in chunk]) for chunk in _chunks(unique, MAX_IN)]
        pages = await gather_all(
            self.coql_all(module, names, where, page_size=200) for where in queries
        )
        return [row for rows in pages for row in rows]

    async def _pages(
        self,
        path: str,
        *,
        route: str,
        key: str,
        params: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """GET every page: ``page`` while it reaches, then ``page_token``; 204/304 end it."""
        out: list[dict[str, Any]] = []
        page, token = 1, None
        while True:
            q: dict[str, Any] = {**params, "per_page": params.get("per_page", PER_PAGE)}
            if token is not None:
                q["page_token"] = token
            else:
                q["page"] = page
            response = await self._request("GET", path, route=route, params=q, headers=headers)
            if response.status_code in (204, 304):
                return out
            body = self._json(response)
            items = body.get(key) or []
            out.extend(dict(i) for i in items)
            info = body.get("info")
            info = info if isinstance(info, Mapping) else {}
            if not info.get("more_records") or not items or (limit and len(out) >= limit):
                return out[:limit] if limit else out
            next_token = info.get("next_page_token")
            if token is not None or (next_token and (page + 1) * int(q["per_page"]) > PAGE_LIMIT):
                if not next_token:
                    raise FatalError(
                        f"Zoho answered more_records without next_page_token on {route}",
                        code="BAD_ANSWER",
                    )
                token = str(next_token)
            page += 1

    async def list_records(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime | None,
        converted: Literal["false", "true", "both"] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records (only ``fields``), oldest change first; since ``modified_since`` when given.

        ``converted`` (Leads only): Zoho lists unconverted leads unless told ``true``/``both``.
        """
        params: dict[str, Any] = {
            "fields": ",".join(api_name(f) for f in fields),
            "sort_by": "Modified_Time",
            "sort_order": "asc",
            "per_page": min(PER_PAGE, limit or PER_PAGE),
        }
        if converted is not None:
            params["converted"] = converted
        return await self._pages(
            f"/crm/v8/{api_name(module)}",
            route="GET /crm/v8/{module}",
            key="data",
            params=params,
            headers=_since_header(modified_since),
            limit=limit,
        )

    async def watch(
        self,
        *,
        channel_id: str,
        events: Sequence[str],
        notify_url: str,
        token: str,
        expiry: datetime,
    ) -> datetime:
        """Subscribe ``notify_url`` to Zoho's notifications of ``events`` (``Leads.all``, ...)
        until ``expiry`` (Zoho keeps a channel at most a day); a channel subscribed again is
        renewed. Returns the expiry Zoho granted (the earliest of its events')."""
        body = {
            "watch": [
                {
                    "channel_id": valid_id(channel_id),
                    "events": list(events),
                    "notify_url": notify_url,
                    "token": token,
                    "channel_expiry": expiry.replace(microsecond=0).isoformat(),
                }
            ]
        }
        response = await self._request(
            "POST", "/crm/v8/actions/watch", route="POST /crm/v8/actions/watch", json=body
        )
        items = self._json(response).get("watch")
        item = items[0] if isinstance(items, list) and items else {}
        if not isinstance(item, Mapping) or str(item.get("status")) != "success":
            code = str(item.get("code") or "") if isinstance(item, Mapping) else ""
            raise FatalError(f"Zoho refused the notification channel: {code}", code=code)
        details = item.get("details")
        granted = [
            datetime.fromisoformat(str(e["channel_expiry"]))
            for e in (details.get("events") or [] if isinstance(details, Mapping) else [])
            if isinstance(e, Mapping) and e.get("channel_expiry")
        ]
        return min(granted) if granted else expiry

    async def deleted_ids(self, module: str, *, since: datetime | None) -> list[str]:
        """Ids of records deleted (recycle bin and permanently) since ``since``."""
        rows = await self._pages(
            f"/crm/v8/{api_name(module)}/deleted",
            route="GET /crm/v8/{module}/deleted",
            key="data",
            params={"type": "all"},
            headers=_since_header(since),
        )
        return [str(r["id"]) for r in rows if r.get("id")]

    async def users(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        return await self._pages(
            "/crm/v8/users",
            route="GET /crm/v8/users",
            key="users",
            params={"type": "ActiveUsers" if active_only else "AllUsers"},
        )

    async def current_user_id(self) -> str | None:
        """The Zoho user callsync's refresh token acts as (``type=CurrentUser``): the index
        leaves out what that user changed since it created it (callsync's own writes)."""
        rows = await self._pages(
            "/crm/v8/users",
            route="GET /crm/v8/users",
            key="users",
            params={"type": "CurrentUser"},
            limit=1,
        )
        return str(rows[0]["id"]) if rows and rows[0].get("id") else None

    async def roles(self) -> list[dict[str, Any]]:
        response = await self._request(
            "GET", "/crm/v8/settings/roles", route="GET /crm/v8/settings/roles"
        )
        if response.status_code == 204:
            return []
        return [dict(r) for r in self._json(response).get("roles") or []]

    async def text_limits(self, module: str) -> Mapping[str, int]:
        """Maximum lengths of ``module``'s text fields (API name → characters), read from the
        fields metadata once per client and kept. Without the metadata (no
        ``ZohoCRM.settings.fields.READ`` scope, a module Zoho does not describe) nothing is cut:
        a warning says so and Zoho's own check stays the judge."""
        cached = self._limits.get(module)
        if cached is not None:
            return cached
        async with self._limits_lock:
            cached = self._limits.get(module)
            if cached is None:
                try:
                    cached = text_limits(await self.fields(module))
                except (AuthError, FatalError, RecordRejected) as exc:
                    log.warning(
                        "Zoho fields of %s unreadable (%s): long values are sent uncut",
                        module,
                        exc.code,
                    )
                    cached = {}
                self._limits[module] = cached
        return cached

    async def fields(self, module: str) -> list[dict[str, Any]]:
        """The fields metadata of ``module`` (kept in the metadata cache for
        :data:`METADATA_MAX_AGE`: a module's fields change with an admin's hand, not by the
        minute)."""
        name = f"fields:{api_name(module)}"
        cached = self._cache.cache_get(name, METADATA_MAX_AGE) if self._cache else None
        if isinstance(cached, list):
            return [dict(f) for f in cached]
        response = await self._request(
            "GET",
            "/crm/v8/settings/fields",
            route="GET /crm/v8/settings/fields",
            params={"module": api_name(module)},
        )
        fields = (
            []
            if response.status_code == 204
            else [dict(f) for f in self._json(response).get("fields") or []]
        )
        if self._cache is not None:
            self._cache.cache_put(name, fields)
        return fields

    async def deal_closed_stages(self) -> frozenset[str]:
        """The Deal stages the org counts as closed won or lost (both names of each, as Zoho
        shows and stores them), from the ``Stage`` field's metadata (``forecast_type``, see
        :mod:`.org_settings`). Without readable metadata: Zoho's default closed stages, with a
        warning."""
        try:
            stages = closed_stages(await self.fields("Deals"))
        except (AuthError, FatalError, RecordRejected) as exc:
            log.warning("Zoho Deals fields unreadable (%s): Zoho's default closed stages", exc.code)
            stages = None
        if stages is None:
            return ZOHO_DEFAULT_CLOSED_STAGES
        return stages

    async def business_hours(self) -> WorkingHours:
        """The org's Business Hours settings as working hours (24×7 when none are configured).

        Needs the scope ``ZohoCRM.settings.business_hours.READ``; without it (or with an answer
        that cannot be read) deadlines count 24×7, with a warning saying how to fix it — a
        config's ``[scenario.business_hours]`` wins anyway and makes this call unnecessary.
        """
        try:
            cached = self._cache.cache_get(HOURS, METADATA_MAX_AGE) if self._cache else None
            if isinstance(cached, dict):
                body = cached.get("body")
            else:
                response = await self._request(
                    "GET",
                    "/crm/v8/settings/business_hours",
                    route="GET /crm/v8/settings/business_hours",
                )
                body = None if response.status_code == 204 else dict(self._json(response))
                if self._cache is not None:
                    self._cache.cache_put(HOURS, {"body": body})
            return working_hours(body)
        except (AuthError, FatalError, RecordRejected, OrgSettingsError) as exc:
            code = exc.code if isinstance(exc, ZohoError) else str(exc)
            log.warning(
                "Zoho business hours unreadable (%s): deadlines count 24x7; grant "
                "ZohoCRM.settings.business_hours.READ or set [scenario.business_hours]",
                code,
            )
            return WorkingHours.always()

    async def search_phone(self, module: str, phone: str) -> list[dict[str, Any]]:
        """Zoho's phone search (exact match on its phone fields); 204 → []. Index lag applies."""
        value = valid_phone(phone)
        log.debug("Zoho phone search in %s for %s", module, mask_phone(value))
        return await self._pages(
            f"/crm/v8/{api_name(module)}/search",
            route="GET /crm/v8/{module}/search",
            key="data",
            params={"phone": value},
        )
