"""The webhook receiver: a FastAPI app for Ringostat's webhooks (SPEC 12).

Endpoints ``/ringostat/pickup``, ``/ringostat/after-call``, ``/ringostat/outgoing-after-call``;
GET (query parameters) or POST (a JSON object or a form-encoded body; static parameters in the
URL's query string are read too, the body wins). Answers, checked in this order:

- ``413`` when the body is above ``[webhook] max_body_bytes`` (64 KiB), before anything is read;
- ``401`` when the token (query ``token`` or header ``X-Callsync-Token``) is missing or wrong,
  compared in constant time; nothing is stored and the token is never logged;
- ``400`` with a one-line reason for an event that cannot be read; the parameters (without the
  token) go to the quarantine as ``bad_webhook``;
- ``503`` when the state store cannot take the event (Ringostat marks the webhook "with error";
  the log sync still brings the call);
- ``200`` once the event is committed to the inbox — a repeated webhook answers ``200`` too and
  changes nothing.

``POST /zoho/notify`` takes Zoho's notifications of changed Leads, Contacts and Deals when
``[webhook] public_url`` is set (:mod:`tasks.pipeline.crm_watch`): ``401`` without Zoho's
verification token, ``200`` at once, the change applied to the phone index in the background.

The answer never waits for Zoho: a background worker (started with the app) handles the inbox,
woken by every new event, and on start handles whatever an earlier process left pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from models.settings import Settings
from tasks.pipeline.crm_watch import (
    NOTIFY_PATH,
    BadNotification,
    CrmWatch,
    Notification,
    read_notification,
)
from tasks.pipeline.webhooks import LiveCrm, WebhookProcessor, utc_now
from tasks.webhooks.events import (
    TOKEN_HEADER,
    TOKEN_PARAM,
    BadWebhook,
    EventKind,
    WebhookEvent,
    read_event,
)
from tasks.webhooks.inbox import Inbox

log = logging.getLogger(__name__)


class TooLarge(Exception):
    pass


def _caller_key(event: WebhookEvent, digits: int) -> str:
    """The event's client number as the worker partitions by it (its last digits)."""
    number = event.row.get(event.kind.client_field, "")
    return "".join(ch for ch in number if ch.isdigit())[-digits:]


class Worker:
    """Handles the inbox in the background: at start, on every new event, and every ``idle_s``
    seconds (anything left over).

    Up to ``batches`` batches run at once, so a pickup does not wait behind a batch that is
    waiting for Zoho. Events of one caller (the last digits of the client number) are never in
    two batches at once: two calls from one new number must see each other's lead, as in the log
    sync, where they are planned together.
    """

    def __init__(
        self,
        processor: WebhookProcessor,
        *,
        idle_s: float = 60.0,
        batches: int = 4,
        batch_size: int = 200,
        match_digits: int = 9,
    ) -> None:
        self.processor = processor
        self._idle_s = max(idle_s, 1.0)
        self._batches = batches
        self._batch_size = batch_size
        self._digits = match_digits
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._events: set[str] = set()
        self._callers: set[str] = set()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="callsync-webhook-worker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _claim(self) -> list[WebhookEvent] | None:
        """The next batch: waiting events not in flight, no caller in two batches."""
        waiting = self.processor.inbox.waiting(limit=self._batch_size + len(self._events))
        batch: list[WebhookEvent] = []
        blocked = False
        callers: set[str] = set()
        for event in waiting:
            if event.key in self._events:
                continue
            caller = _caller_key(event, self._digits)
            if caller in self._callers:
                blocked = True
                continue
            batch.append(event)
            callers.add(caller)
            if len(batch) == self._batch_size:
                break
        if not batch:
            return None if not blocked else []
        self._events |= {e.key for e in batch}
        self._callers |= callers
        return batch

    async def _handle(self, batch: list[WebhookEvent]) -> None:
        try:
            await self.processor.handle(batch)
        except Exception:
            log.warning("webhook worker: handling %d events failed", len(batch), exc_info=True)
        finally:
            self._events -= {e.key for e in batch}
            self._callers -= {_caller_key(e, self._digits) for e in batch}
            self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            while len(self._running) < self._batches:
                try:
                    batch = self._claim()
                except Exception:
                    log.warning("webhook worker: reading the inbox failed", exc_info=True)
                    batch = None
                if not batch:
                    break
                task = asyncio.create_task(self._handle(batch))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s)


async def _apply(watch: CrmWatch, note: Notification) -> None:
    try:
        await watch.apply(note)
    except Exception:
        log.warning(
            "Zoho notification of %s %s not applied (the next index refresh brings it)",
            note.module,
            note.operation,
            exc_info=True,
        )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _params(request: Request, body: bytes) -> dict[str, Any]:
    """Query parameters, then the body's (JSON object or form-encoded), the body winning."""
    params: dict[str, Any] = dict(request.query_params)
    if not body.strip():
        return params
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            params.update(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise BadWebhook("the form-encoded body cannot be read") from None
        return params
    if kind in ("application/json", "") or kind.endswith("+json"):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise BadWebhook("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadWebhook("the JSON body is not an object")
        params.update(data)
        return params
    raise BadWebhook(f"unsupported body type {kind!r}: send JSON or form-encoded parameters")


def _token_ok(request: Request, expected: str) -> bool:
    given = request.query_params.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER) or ""
    if not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


Parts = tuple[Inbox, WebhookProcessor | None]
"""What the receiver works with: the inbox, and the processor (None: store only, do not handle)."""


def create_receiver(
    settings: Settings,
    parts: Callable[[], contextlib.AbstractAsyncContextManager[Parts]],
    *,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The receiver app. ``parts`` opens the inbox and processor on the server's own event loop
    when the app starts (the store and the Zoho client live as long as the app)."""
    hook = settings.webhook
    expected = hook.token.get_secret_value()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with parts() as (inbox, processor):
            worker = (
                Worker(
                    processor,
                    idle_s=hook.index_refresh_s,
                    match_digits=settings.scenario.match_digits,
                )
                if processor
                else None
            )
            app.state.inbox, app.state.worker = inbox, worker
            crm = processor.crm if processor is not None else None
            app.state.watch = crm.watch if isinstance(crm, LiveCrm) else None
            if worker is not None:
                worker.start()
            try:
                yield
            finally:
                if worker is not None:
                    await worker.stop()

    app = FastAPI(
        title="callsync webhook receiver", docs_url=None, redoc_url=None, lifespan=lifespan
    )

    def endpoint(kind: EventKind) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            received_at = clock()
            inbox: Inbox = request.app.state.inbox
            worker: Worker | None = request.app.state.worker
            try:
                body = await _body(request, hook.max_body_bytes)
            except TooLarge:
                return _error(413, f"the webhook is larger than {hook.max_body_bytes} bytes")
            if not _token_ok(request, expected):
                return _error(401, "missing or wrong token")
            params: Mapping[str, Any] = {}
            try:
                params = _params(request, body)
                event = read_event(
                    kind,
                    params,
                    names=hook.params,
                    received_at=received_at,
                    timezone=settings.ringostat.timezone,
                )
            except BadWebhook as exc:
                return await _bad(inbox, kind, params, body, str(exc))
            try:
                new = await anyio.to_thread.run_sync(inbox.add, event)
            except SQLAlchemyError:
                log.warning("webhook %s: the state store is unavailable", kind.value)
                return _error(503, "the state store is unavailable; try again later")
            if new and worker is not None:
                worker.wake()
            return JSONResponse({"status": "ok", "event": event.key, "repeat": not new})

        return receive

    async def _bad(
        inbox: Inbox, kind: EventKind, params: Mapping[str, Any], body: bytes, reason: str
    ) -> Response:
        kept = {k: v for k, v in params.items() if k != TOKEN_PARAM}
        if not kept and body:
            kept = {"body": body[:2048].decode(errors="replace")}
        uid = kept.get("uniqueid")
        try:
            await anyio.to_thread.run_sync(
                inbox.quarantine, {"event": kind.value, **kept}, reason, str(uid) if uid else None
            )
        except SQLAlchemyError:
            log.warning("webhook %s: could not quarantine a bad webhook", kind.value)
        log.info("webhook %s rejected: %s", kind.value, reason)
        return _error(400, reason)

    for kind in EventKind:
        app.add_api_route(
            f"/ringostat/{kind.value}",
            endpoint(kind),
            methods=["GET", "POST"],
            name=f"ringostat-{kind.value}",
        )

    @app.post(NOTIFY_PATH)
    async def zoho_notify(request: Request) -> Response:
        """Zoho's notification of a changed Lead, Contact or Deal (see
        :mod:`tasks.pipeline.crm_watch`): checked, answered at once, applied in the background."""
        watch: CrmWatch | None = request.app.state.watch
        if watch is None or not watch.enabled:
            return _error(404, "Zoho notifications are not enabled ([webhook] public_url)")
        try:
            body = await _body(request, hook.max_body_bytes)
        except TooLarge:
            return _error(413, f"the notification is larger than {hook.max_body_bytes} bytes")
        try:
            note = read_notification(json.loads(body or b"null"), watch.token)
        except (UnicodeDecodeError, ValueError) as exc:
            status = 401 if "token" in str(exc) else 400
            return _error(status, str(exc) if isinstance(exc, BadNotification) else "not JSON")
        task = asyncio.create_task(_apply(watch, note))
        applying.add(task)
        task.add_done_callback(applying.discard)
        return JSONResponse({"status": "ok"})

    applying: set[asyncio.Task[None]] = set()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
