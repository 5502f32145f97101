"""The ASGI layer around the CRM: accounting, concurrency, credits and injected faults.

For every request outside ``/__emulator__`` it counts the request under its route template
(``POST /crm/v8/{module}``) and tracks in-flight requests. For ``/crm/`` requests it then, in
this order:

1. rejects a request over ``concurrency_limit`` in flight with 429 ``TOO_MANY_REQUESTS``
   (no ``Retry-After``: Zoho sends none);
2. sleeps ``latency_ms`` through the injected ``sleep``;
3. rolls the seeded dice: ``rate_429`` → 429, ``rate_5xx`` → 500 ``INTERNAL_ERROR``;
4. rejects with 429 once the 24-hour rolling ``credit_budget`` is spent;
5. runs the route, then charges its credits (a route sets ``request.state.credits``; the default
   is 1; 401/429/5xx answers cost nothing);
6. with probability ``lost_response_rate`` drops the answer *after* the route ran (the write is
   applied): it starts the response with its full ``Content-Length``, sends half the body and
   stops, so a real server closes the connection mid-body and an HTTP client raises a protocol
   error; ``emulators.zoho.inprocess.transport`` turns the same into ``httpx.RemoteProtocolError``.

Three dice are rolled for every CRM request admitted by the concurrency check, whatever the
rates, so one ``seed`` gives one fault sequence for a given order of requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.zoho.errors import ZohoError, internal_error, too_many_requests
from emulators.zoho.orgs import SCOPE_KEY
from emulators.zoho.state import RouteStats, ZohoState

Sleep = Callable[[float], Awaitable[None]]
CREDIT_WINDOW = timedelta(hours=24)
ADMIN_PREFIX = "/__emulator__"
NOT_CHARGED = frozenset({401, 429})


class RouteTable:
    """Maps a request to its route template (``POST /crm/v8/{module}``), in inclusion order.

    Built from the routers themselves, so the stats keys are the routes' own paths.
    """

    def __init__(self, routers: list[APIRouter]) -> None:
        self.entries: list[tuple[set[str], re.Pattern[str], str]] = [
            (set(route.methods or ()), route.path_regex, route.path)
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute)
        ]

    def template(self, scope: Scope) -> str:
        method, path = str(scope.get("method", "GET")), str(scope["path"])
        for methods, regex, template in self.entries:
            if method in methods and regex.match(path):
                return f"{method} {template}"
        return f"{method} {path}"


async def _send_error(send: Send, exc: ZohoError) -> None:
    body = json.dumps(exc.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ZohoLimits:
    """Pure ASGI middleware (no buffering surprises, and it may leave a response unfinished)."""

    def __init__(self, app: ASGIApp, *, owner: FastAPI, routes: RouteTable, sleep: Sleep) -> None:
        self.app = app
        self.owner = owner
        self.routes = routes
        self.sleep = sleep

    def state(self, scope: Scope) -> ZohoState:
        """The request's org (:mod:`emulators.zoho.orgs`), else the default org."""
        state = scope.get(SCOPE_KEY) or self.owner.state.zoho
        assert isinstance(state, ZohoState)
        return state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state(scope)
        stats = state.stats
        route = stats.by_route.setdefault(self.routes.template(scope), RouteStats())
        stats.requests += 1
        route.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if str(scope["path"]).startswith("/crm/"):
                await self._crm(scope, receive, send, route)
            else:
                await self.app(scope, receive, send)
        finally:
            stats.in_flight -= 1

    async def _crm(self, scope: Scope, receive: Receive, send: Send, route: RouteStats) -> None:
        state = self.state(scope)
        faults = state.faults
        if state.stats.in_flight > faults.concurrency_limit:
            await _send_error(send, too_many_requests())
            return
        if faults.latency_ms > 0:
            await self.sleep(faults.latency_ms / 1000)
        roll_429, roll_5xx, roll_lost = state.rng.random(), state.rng.random(), state.rng.random()
        if roll_429 < faults.rate_429:
            await _send_error(send, too_many_requests())
            return
        if roll_5xx < faults.rate_5xx:
            await _send_error(send, internal_error(str(scope["path"])))
            return
        if faults.credit_budget is not None and _credits_used(state) >= faults.credit_budget:
            await _send_error(
                send, too_many_requests("API credit limit of the last 24 hours exceeded")
            )
            return

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        await self.app(scope, receive, capture)
        status = int(start.get("status", 500))
        if status < 500 and status not in NOT_CHARGED:
            credits = int(scope.get("state", {}).get("credits", 1))
            route.credits += credits
            state.stats.credits += credits
            state.credit_log.append((state.now(), credits))
        body = b"".join(chunks)
        if roll_lost < faults.lost_response_rate:
            await _drop(send, start, body)
            return
        await send(dict(start))
        await send({"type": "http.response.body", "body": body})


def _credits_used(state: ZohoState) -> int:
    log = state.credit_log
    now = state.now()
    while log and now - log[0][0] >= CREDIT_WINDOW:
        log.popleft()
    return sum(c for _, c in log)


async def _drop(send: Send, start: dict[str, Any], body: bytes) -> None:
    """Announce the whole answer, send half of it, and stop: the connection dies mid-body."""
    declared = max(len(body), 2)
    status = int(start.get("status", 200))
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    await send(
        {
            "type": "http.response.start",
            "status": 200 if status in (204, 304) else status,
            "headers": [*headers, (b"content-length", str(declared).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body[: declared // 2], "more_body": True})
