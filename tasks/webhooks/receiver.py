"""The webhook receiver: a FastAPI app for Ringostat's webhooks (SPEC 12).

Endpoints ``/ringostat/pickup``, ``/ringostat/after-call``, ``/ringostat/outgoing-after-call``;
GET (query parameters) or POST (a JSON object or a form-encoded body; static parameters in the
URL's query string are read too, the body wins). Answers, checked in this order:

- ``404`` for a path with percent-escapes (``/ringostat%2Fpickup`` is not an endpoint), and for
  ``/openapi.json``, ``/docs`` and ``/redoc``: the receiver publishes no API schema;
- ``413`` when the body is above ``[webhook] max_body_bytes`` (64 KiB), before anything is read;
  ``408`` when the body does not arrive within ``[webhook] body_timeout_s``;
- ``401`` when the token (query ``token`` or header ``X-Callsync-Token``) is missing or wrong,
  or given more than once (``?token=wrong&token=RIGHT`` is not "the last one wins"), compared in
  constant time; nothing is stored and the token is never logged;
- ``400`` with a one-line reason for an event that cannot be read (JSON nested too deep
  included); the parameters (without the token) go to the quarantine as ``bad_webhook``;
- ``503`` when the state store cannot take the event within ``[webhook] store_timeout_s``
  (another process holds its write lock, it is down): Ringostat marks the webhook "with error",
  the log sync still brings the call;
- ``200`` once the event is committed to the inbox — a repeated webhook answers ``200`` too and
  changes nothing.

The event loop only answers: storing an event runs in a thread with a deadline, and the inbox
is handled by a worker on a thread and event loop of its own (:mod:`tasks.webhooks.worker`),
woken by every new event, which on start handles whatever an earlier process left pending. A
client that gives up mid-body is let go without a traceback.

``POST /zoho/notify`` takes Zoho's notifications of changed Leads, Contacts and Deals when
``[webhook] public_url`` is set (:mod:`tasks.pipeline.crm_watch`): ``401`` without Zoho's
verification token, ``200`` at once, the change applied to the phone index on the worker's loop.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from models.call import mask_numbers
from models.settings import Settings
from tasks.pipeline.crm_watch import NOTIFY_PATH, BadNotification, read_notification
from tasks.pipeline.webhooks import WebhookProcessor, utc_now
from tasks.store.engine import lock_wait
from tasks.text import clean_text
from tasks.webhooks.events import (
    TOKEN_HEADER,
    TOKEN_PARAM,
    BadWebhook,
    EventKind,
    read_event,
)
from tasks.webhooks.inbox import Inbox
from tasks.webhooks.worker import Parts, PartsFactory, Worker, WorkerThread

T = TypeVar("T")

log = logging.getLogger(__name__)

__all__ = ["Parts", "create_receiver"]

MAX_KEPT_CHARS = 2048
"""Characters of a refused webhook's value the quarantine keeps."""
STORE_THREADS = 16
"""Threads storing events at once; a request past them waits (within its deadline) for one."""


class TooLarge(Exception):
    pass


class TooSlow(Exception):
    pass


class Gone(Exception):
    """The client closed the connection before its body arrived."""


class StoreUnavailable(Exception):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


async def _body(request: Request, limit: int, timeout_s: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise TooSlow from None
    except ClientDisconnect:
        raise Gone from None
    return b"".join(chunks)


def _params(request: Request, body: bytes) -> dict[str, Any]:
    """Query parameters, then the body's (JSON object or form-encoded), the body winning."""
    params: dict[str, Any] = dict(request.query_params)
    if not body.strip():
        return params
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            # Bytes that are not UTF-8 become U+FFFD: a value is never the reason to refuse.
            text = body.decode("utf-8", "replace")
            params.update(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
        except ValueError:
            raise BadWebhook("the form-encoded body cannot be read") from None
        return params
    if kind in ("application/json", "") or kind.endswith("+json"):
        try:
            data = json.loads(body)
        except RecursionError:  # [[[[…]]]] 30,000 deep: the parser's stack, not a 500
            raise BadWebhook("the JSON body is nested too deep") from None
        except (UnicodeDecodeError, ValueError):
            raise BadWebhook("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadWebhook("the JSON body is not an object")
        params.update(data)
        return params
    raise BadWebhook(f"unsupported body type {kind!r}: send JSON or form-encoded parameters")


def _kept(value: Any) -> Any:
    """A parameter of a refused webhook as the quarantine keeps it: scalars cleaned, anything
    nested as (cleaned, cut) JSON text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return clean_text(value[:MAX_KEPT_CHARS])
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):
        text = "<unreadable value>"
    return clean_text(text[:MAX_KEPT_CHARS])


def _token_ok(request: Request, expected: str) -> bool:
    """Exactly one token, and the right one: a token given twice (query and header, or the
    parameter repeated) is refused, whatever the last one says."""
    given = [
        *request.query_params.getlist(TOKEN_PARAM),
        *request.headers.getlist(TOKEN_HEADER),
    ]
    if not expected or len(given) != 1:
        return False
    return hmac.compare_digest(given[0].encode(), expected.encode())


class _PlainPaths:
    """Only plain paths reach the routes: one with a percent-escape (``/ringostat%2Fpickup``,
    which the server decodes to ``/ringostat/pickup``) answers 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"%" in (scope.get("raw_path") or b""):
            await _error(404, "not found")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_receiver(
    settings: Settings,
    parts: PartsFactory,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The receiver app. ``parts`` opens the inbox and processor when the app starts, on the
    worker's own thread and loop (the store and the Zoho client live as long as the app)."""
    hook = settings.webhook
    expected = hook.token.get_secret_value()

    def worker_for(processor: WebhookProcessor) -> Worker:
        return Worker(
            processor, idle_s=hook.index_refresh_s, match_digits=settings.scenario.match_digits
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        host = WorkerThread(parts, worker_for)
        app.state.inbox = await anyio.to_thread.run_sync(host.start)
        app.state.worker = host
        app.state.store_threads = anyio.CapacityLimiter(STORE_THREADS)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(host.stop)

    app = FastAPI(
        title="callsync webhook receiver",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(_PlainPaths)

    async def in_store(request: Request, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a thread, its transactions waiting at most ``store_timeout_s`` for
        a lock; past the deadline (a lock wait elsewhere, a full thread pool) it is left to
        finish on its own and :class:`StoreUnavailable` is raised."""

        def run() -> T:
            with lock_wait(hook.store_timeout_s):
                return fn(*args)

        # The lock wait is the deadline; the margin covers waiting for a thread.
        with anyio.move_on_after(hook.store_timeout_s * 2 + 1):
            return await anyio.to_thread.run_sync(
                run, abandon_on_cancel=True, limiter=request.app.state.store_threads
            )
        raise StoreUnavailable

    def endpoint(kind: EventKind) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            received_at = clock()
            inbox: Inbox = request.app.state.inbox
            worker: WorkerThread = request.app.state.worker
            try:
                body = await _body(request, hook.max_body_bytes, hook.body_timeout_s)
            except TooLarge:
                return _error(413, f"the webhook is larger than {hook.max_body_bytes} bytes")
            except TooSlow:
                return _error(408, f"the body did not arrive within {hook.body_timeout_s:g} s")
            except Gone:  # nobody to answer; nothing worth a line
                return Response(status_code=400)
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
                return await _bad(request, kind, params, body, str(exc))
            try:
                new = await in_store(request, inbox.add, event)
            except (SQLAlchemyError, StoreUnavailable) as exc:
                log.warning(
                    "webhook %s: the state store is unavailable (%s)", kind.value, _why(exc)
                )
                return _error(503, "the state store is unavailable; try again later")
            if new:
                worker.wake()
            return JSONResponse({"status": "ok", "event": event.key, "repeat": not new})

        return receive

    async def _bad(
        request: Request, kind: EventKind, params: Mapping[str, Any], body: bytes, reason: str
    ) -> Response:
        inbox: Inbox = request.app.state.inbox
        kept = {clean_text(str(k)): _kept(v) for k, v in params.items() if k != TOKEN_PARAM}
        if not kept and body:
            kept = {"body": clean_text(body[:MAX_KEPT_CHARS].decode(errors="replace"))}
        uid = kept.get("uniqueid")
        try:
            await in_store(
                request,
                inbox.quarantine,
                {"event": kind.value, **kept},
                reason,
                str(uid) if uid else None,
            )
        except (SQLAlchemyError, StoreUnavailable) as exc:
            log.warning(
                "webhook %s: could not quarantine a bad webhook (%s)", kind.value, _why(exc)
            )
        # The reason may quote a parameter's name, which the sender chose: numbers masked.
        log.info("webhook %s rejected: %s", kind.value, mask_numbers(reason))
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
        :mod:`tasks.pipeline.crm_watch`): checked, answered at once, applied on the worker's
        loop (where the phone index's store and Zoho client live)."""
        worker: WorkerThread = request.app.state.worker
        token = worker.notify_token
        if token is None:
            return _error(404, "Zoho notifications are not enabled ([webhook] public_url)")
        try:
            body = await _body(request, hook.max_body_bytes, hook.body_timeout_s)
        except TooLarge:
            return _error(413, f"the notification is larger than {hook.max_body_bytes} bytes")
        except TooSlow:
            return _error(408, f"the body did not arrive within {hook.body_timeout_s:g} s")
        except Gone:
            return Response(status_code=400)
        try:
            note = read_notification(json.loads(body or b"null"), token)
        except BadNotification as exc:
            return _error(401 if "token" in str(exc) else 400, str(exc))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _error(400, "the body is not JSON")
        worker.notify(note)
        return JSONResponse({"status": "ok"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _why(exc: Exception) -> str:
    """One short line: the error's kind and first line (SQL parameters are hidden anyway)."""
    if isinstance(exc, StoreUnavailable):
        return "no answer within the deadline"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:200]
