"""Zoho's notifications (``/crm/v8/actions/watch``): subscriptions, and the calls Zoho makes to
a subscriber's URL when records change.

Routes (credits: 1 each):

- ``POST`` enables channels: body ``{"watch": [{"channel_id", "events": ["Leads.all", ...],
  "notify_url", "token", "channel_expiry"}]}``; answers 201 with one ``SUCCESS`` item per
  channel listing its events (``resource_name``, ``resource_uri``, ``channel_expiry``), or —
  a channel missing a value (``MANDATORY_NOT_FOUND``) or with a bad one (``INVALID_DATA``) —
  202 with the items' errors and nothing enabled. A channel enabled again is replaced. ``channel_expiry`` defaults to one hour from now and is
  capped at one day (Zoho's maximum); an expired channel notifies nothing;
- ``PUT`` updates channels (the same body; the details given replace the old);
- ``GET`` lists them (``{"watch": [...], "info": {...}}``; 204 when none);
- ``PATCH`` with ``"_delete_events": true`` removes the events named from a channel;
- ``DELETE ?channel_ids=a,b`` removes channels.

Events are ``<Module>.all``, ``.create``, ``.edit`` or ``.delete``. After every request that
changed records (API writes, conversions, the admin seed), each matching channel gets one
``POST`` to its ``notify_url`` per module and operation, in Zoho's shape: ``{"server_time",
"query_params", "module", "resource_uri", "ids", "affected_fields", "operation", "channel_id",
"token"}``, sent after the answer (Zoho notifies asynchronously); a subscriber that does not
answer is not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.zoho.errors import ZohoError, invalid_body
from emulators.zoho.oauth import require_token, state_of
from emulators.zoho.orgs import SCOPE_KEY
from emulators.zoho.routes_write import json_body
from emulators.zoho.state import Channel, Watches, ZohoState
from emulators.zoho.validation import parse_datetime

log = logging.getLogger(__name__)

router = APIRouter(prefix="/crm/v8/actions", dependencies=[Depends(require_token)])

DEFAULT_EXPIRY = timedelta(hours=1)
MAX_EXPIRY = timedelta(days=1)
OPERATIONS = {"create": "insert", "edit": "update", "delete": "delete"}


def watches_of(state: ZohoState) -> Watches:
    return state.watches


class BadChannel(Exception):
    """One channel of a request that cannot be used: Zoho answers 202 with the item's error."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(item["code"])
        self.item = item


def _invalid(detail: str, item: int, *, missing: bool = False) -> BadChannel:
    return BadChannel(
        {
            "code": "MANDATORY_NOT_FOUND" if missing else "INVALID_DATA",
            "details": {"api_name": detail, "json_path": f"$.watch[{item}].{detail}"},
            "message": "required field not found" if missing else "invalid data",
            "status": "error",
        }
    )


def _channel(state: ZohoState, item: Any, index: int) -> Channel:
    if not isinstance(item, dict):
        raise invalid_body()
    channel_id = str(item.get("channel_id") or "")
    if not channel_id:
        raise _invalid("channel_id", index, missing=True)
    if not channel_id.isdigit():
        raise _invalid("channel_id", index)
    events = item.get("events")
    if not events:
        raise _invalid("events", index, missing=True)
    if not isinstance(events, list):
        raise _invalid("events", index)
    for event in events:
        module, _, op = str(event).partition(".")
        if state.module(module) is None or op not in ("all", *OPERATIONS):
            raise _invalid("events", index)
    url = item.get("notify_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _invalid("notify_url", index)
    now = state.now()
    expiry = now + DEFAULT_EXPIRY
    raw_expiry = item.get("channel_expiry")
    if raw_expiry:
        parsed = parse_datetime(str(raw_expiry))
        if parsed is None or parsed.tzinfo is None:
            raise _invalid("channel_expiry", index)
        expiry = min(parsed, now + MAX_EXPIRY)
    token = item.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > 50):
        raise _invalid("token", index)
    return Channel(channel_id, {str(e) for e in events}, url, token, expiry)


def _success(state: ZohoState, request: Request, channel: Channel, message: str) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    events = [
        {
            "channel_expiry": state.iso(channel.expiry),
            "resource_uri": f"{base}/crm/v8/{event.partition('.')[0]}",
            "resource_id": state.modules[event.partition(".")[0]].id,
            "resource_name": event.partition(".")[0],
            "channel_id": channel.channel_id,
            "notification_condition": [],
        }
        for event in sorted(channel.events)
    ]
    return {
        "code": "SUCCESS",
        "details": {"events": events},
        "message": message,
        "status": "success",
    }


async def _items(request: Request) -> list[Any]:
    body = await json_body(request)
    items = body.get("watch") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ZohoError(
            400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "watch"}
        )
    return items


async def _channels(request: Request, state: ZohoState) -> list[Channel]:
    """The request's channels; :class:`BadChannel` errors gathered into one 202 answer."""
    channels, errors = [], []
    for i, item in enumerate(await _items(request)):
        try:
            channels.append(_channel(state, item, i))
        except BadChannel as bad:
            errors.append(bad.item)
    if errors:
        raise Rejected(errors)
    return channels


class Rejected(Exception):
    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__("rejected channels")
        self.items = items


async def _subscribe(request: Request, message: str, status_code: int) -> JSONResponse:
    """Enable or update the body's channels (a channel enabled again is replaced)."""
    state = state_of(request)
    try:
        channels = await _channels(request, state)
    except Rejected as bad:
        return JSONResponse({"watch": bad.items}, status_code=202)
    for channel in channels:
        watches_of(state).channels[channel.channel_id] = channel
    return JSONResponse(
        {"watch": [_success(state, request, c, message) for c in channels]},
        status_code=status_code,
    )


@router.post("/watch")
async def enable(request: Request) -> JSONResponse:
    return await _subscribe(
        request, "Successfully subscribed for actions-watch of the given module", 201
    )


@router.put("/watch")
async def update(request: Request) -> JSONResponse:
    return await _subscribe(request, "Successfully updated the subscribe details", 200)


@router.patch("/watch")
async def disable(request: Request) -> JSONResponse:
    state = state_of(request)
    watches = watches_of(state)
    out = []
    for index, item in enumerate(await _items(request)):
        if not isinstance(item, dict) or item.get("_delete_events") is not True:
            return JSONResponse(
                {"watch": [_invalid("_delete_events", index, missing=True).item]}, status_code=202
            )
        channel = watches.channels.get(str(item.get("channel_id") or ""))
        if channel is None:
            raise ZohoError(400, "NOT_SUBSCRIBED", "not subscribed", {"index": index})
        channel.events -= {str(e) for e in item.get("events") or []}
        out.append(
            _success(state, request, channel, "Successfully un-subscribed from actions-watch")
        )
        if not channel.events:
            del watches.channels[channel.channel_id]
    return JSONResponse({"watch": out})


@router.delete("/watch")
async def delete(request: Request) -> JSONResponse:
    state = state_of(request)
    watches = watches_of(state)
    ids = [i.strip() for i in request.query_params.get("channel_ids", "").split(",") if i.strip()]
    if not ids:
        raise ZohoError(
            400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
            {"param_name": "channel_ids"},
        )  # fmt: skip
    out = []
    for channel_id in ids:
        channel = watches.channels.pop(channel_id, None)
        if channel is not None:
            out.append(
                {
                    "code": "SUCCESS",
                    "details": {"channel_id": channel_id},
                    "message": "Successfully removed the subscribe details",
                    "status": "success",
                }
            )
    return JSONResponse({"watch": out})


@router.get("/watch")
async def listing(request: Request) -> Response:
    state = state_of(request)
    channels = list(watches_of(state).channels.values())
    if not channels:
        return Response(status_code=204)
    items = [
        {
            "channel_id": int(c.channel_id),
            "events": sorted(c.events),
            "notify_url": c.notify_url,
            "token": c.token,
            "channel_expiry": state.iso(c.expiry),
            "resource_name": sorted(c.events)[0].partition(".")[0],
        }
        for c in channels
    ]
    info = {"per_page": 200, "page": 1, "count": len(items), "more_records": False}
    return JSONResponse({"watch": items, "info": info})


def _wanted(channel: Channel, module: str, operation: str) -> bool:
    return f"{module}.all" in channel.events or any(
        f"{module}.{word}" in channel.events for word, op in OPERATIONS.items() if op == operation
    )


def notifications(state: ZohoState, base_url: str) -> list[tuple[str, dict[str, Any]]]:
    """(notify_url, body) of every notification the changes since the last flush make."""
    watches = watches_of(state)
    changes, watches.changes = watches.changes, []
    if not changes:
        return []
    now = state.now()
    grouped: dict[tuple[str, str], list[str]] = {}
    for module, operation, record_id in changes:
        ids = grouped.setdefault((module, operation), [])
        if record_id not in ids:
            ids.append(record_id)
    out = []
    for channel in list(watches.channels.values()):
        if channel.expiry <= now:
            continue
        for (module, operation), ids in grouped.items():
            if not _wanted(channel, module, operation):
                continue
            body = {
                "server_time": int(now.timestamp() * 1000),
                "query_params": {},
                "module": module,
                "resource_uri": f"{base_url}/crm/v8/{module}",
                "ids": ids,
                "affected_fields": [],
                "operation": operation,
                "channel_id": channel.channel_id,
                "token": channel.token,
            }
            out.append((channel.notify_url, body))
    return out


Post = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


async def _post(url: str, body: dict[str, Any]) -> None:
    try:
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            await client.post(url, json=body)
    except httpx.HTTPError as exc:  # a subscriber that does not answer misses it, as with Zoho
        log.info("Zoho emulator: notification to %s failed: %s", url, exc)


class Notifier:
    """ASGI middleware: after each request, the notifications its record changes make are sent
    (in the background: the request's answer never waits for a subscriber)."""

    def __init__(self, app: ASGIApp, *, owner: Any, post: Post = _post) -> None:
        self.app = app
        self.owner = owner
        self.post = post
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self._flush(scope)

    def _flush(self, scope: Scope) -> None:
        state: ZohoState = scope.get(SCOPE_KEY) or self.owner.state.zoho
        server = scope.get("server") or ("127.0.0.1", 80)
        base = f"{scope.get('scheme', 'http')}://{server[0]}:{server[1]}"
        for url, body in notifications(state, base):
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to send from
                task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
                    self.post(url, body)
                )
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
