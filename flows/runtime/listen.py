"""``callsync listen``: the Ringostat webhook receiver (SPEC 12), and how its work shows in Prefect.

The receiver is a FastAPI app (:mod:`tasks.webhooks.receiver`) served by uvicorn; a background
worker in the same process (its own thread and event loop) handles the inbox through the log
sync's planner and writer.

Every event handled is a Prefect event in the UI's event feed (why events and not runs:
:mod:`tasks.webhooks.steps`); what fails is finished by the next ``callsync-sync`` run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from flows.runtime.http_guard import BACKLOG, connection_cap, guarded_protocol, listening_socket
from flows.runtime.log_limits import RateLimit, limit_every_handler, one_line_loop_errors
from models.settings import ConfigError, Settings, WebhookSettings
from models.tenants import TenantsDir
from tasks.pipeline import Pipeline, open_context
from tasks.pipeline.crm_watch import Applied
from tasks.pipeline.webhooks import Emit, LiveCrm, WebhookProcessor
from tasks.webhooks.inbox import Inbox
from tasks.webhooks.receiver import Parts, create_receiver
from tasks.webhooks.steps import prefect_emitter
from tasks.webhooks.tenants import TenantRouter

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def receiver_parts(
    settings: Settings,
    *,
    emit: Emit | None = None,
    on_notification: Applied | None = None,
) -> AsyncIterator[Parts]:
    """Store, Zoho client, inbox and processor of a receiver, for its lifetime; the phone
    index refreshed before the first webhook is taken and then kept current on a timer, and —
    with ``[webhook] public_url`` — by Zoho's notifications, subscribed to at start
    (``on_notification`` hears of each one applied)."""
    async with open_context(settings) as ctx:
        inbox = Inbox(ctx.store)
        crm = LiveCrm(
            ctx, refresh_s=settings.webhook.index_refresh_s, on_notification=on_notification
        )
        pipeline = Pipeline(ctx, emit=emit)
        try:
            # The index current and the notifications on before the first webhook is taken.
            await crm.view()
            await crm.watch.keep_subscribed()
        except Exception:  # the timer tries again; webhooks must not wait for Zoho
            log.warning("webhooks: reading Zoho at start failed", exc_info=True)
        keeper = asyncio.create_task(crm.keep_current())
        try:
            yield inbox, WebhookProcessor(pipeline, crm, inbox=inbox, emit=emit)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper


def check_token(settings: Settings) -> None:
    if not settings.webhook.token.get_secret_value():
        raise ConfigError(
            "webhook.token is not set: the receiver accepts nothing without it "
            "(set [webhook] token or CALLSYNC_WEBHOOK__TOKEN)"
        )


def receiver_app(settings: Settings, *, emit: Emit | None = None) -> FastAPI:
    """The receiver app with its store, Zoho client and worker (opened when it starts)."""
    check_token(settings)
    return create_receiver(settings, lambda: receiver_parts(settings, emit=emit))


def tenants_receiver_app(directory: TenantsDir, *, emit: Emit | None = None) -> TenantRouter:
    """One receiver for every tenant of ``directory`` (``/t/<tenant>/ringostat/...``; see
    :mod:`tasks.webhooks.tenants`)."""

    def factory(tenant: str) -> FastAPI | None:
        try:
            settings = directory.settings(tenant)
        except ConfigError as exc:
            log.warning("tenant %s: no webhook receiver (%s)", tenant, exc)
            return None
        if not settings.webhook.token.get_secret_value():
            return None
        return receiver_app(settings, emit=emit)

    return TenantRouter(factory, directory.names())


async def listen_tenants(directory: TenantsDir, *, host: str, port: int) -> None:
    """Serve every tenant's webhooks on one port until stopped, hardened as :func:`listen`
    (the receiver's limits are the defaults of ``[webhook]``: one port, one set of limits)."""
    app = tenants_receiver_app(directory, emit=prefect_emitter())
    await _serve(
        app,
        WebhookSettings(),
        host,
        port,
        f"/t/<tenant>/ringostat/ (pickup, after-call, outgoing-after-call) for the tenants of "
        f"{directory.path}",
    )


async def listen(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the receiver until stopped (Ctrl-C / SIGTERM), hardened for the open internet:
    header deadline and connection cap (:mod:`flows.runtime.http_guard`), error lines
    rate-limited (:mod:`flows.runtime.log_limits`). The address line is printed once the socket
    is listening (``--port 0``: the port picked)."""
    hook = settings.webhook
    await _serve(
        receiver_app(settings, emit=prefect_emitter()),
        hook,
        host or hook.host,
        hook.port if port is None else port,
        "/ringostat/ (pickup, after-call, outgoing-after-call)",
    )


async def _serve(app: Any, hook: WebhookSettings, host: str, port: int, what: str) -> None:
    cap = connection_cap(hook.max_connections)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=guarded_protocol(hook.header_timeout_s, cap),
        backlog=BACKLOG,
    )
    limit_every_handler(RateLimit())  # uvicorn has configured its loggers by now
    one_line_loop_errors(asyncio.get_running_loop())
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    print(f"callsync webhook receiver on http://{host}:{bound}{what}", flush=True)
    with sock:
        await uvicorn.Server(config).serve(sockets=[sock])


async def receiver_service(config: str | None) -> None:
    """The receiver as one of ``callsync serve``'s services: served when ``[webhook] token`` is
    set, else one line saying how to switch it on."""
    from models.settings import load_settings

    settings = load_settings(config)
    if not settings.webhook.token.get_secret_value():
        print(
            "webhook receiver: off (set [webhook] token or CALLSYNC_WEBHOOK__TOKEN to receive "
            "Ringostat's webhooks)",
            flush=True,
        )
        return
    await listen(settings)


async def tenants_receiver_service(tenants_dir: str) -> None:
    """Every tenant's receiver as one of ``callsync serve``'s services."""
    from pathlib import Path

    await listen_tenants(TenantsDir(Path(tenants_dir)), host="127.0.0.1", port=8787)
