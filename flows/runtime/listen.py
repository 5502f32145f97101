"""``callsync listen``: the Ringostat webhook receiver (SPEC 12), and how its work shows in Prefect.

The receiver is a FastAPI app (:mod:`tasks.webhooks.receiver`) served by uvicorn; a background
worker in the same process handles the inbox through the log sync's planner and writer.

Every event handled is a Prefect event in the UI's event feed (why events and not runs:
:mod:`tasks.webhooks.steps`); what fails is finished by the next ``callsync-sync`` run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from models.settings import ConfigError, Settings
from models.tenants import TenantsDir
from tasks.pipeline import Pipeline, open_context
from tasks.pipeline.webhooks import Emit, LiveCrm, WebhookProcessor
from tasks.webhooks.inbox import Inbox
from tasks.webhooks.receiver import Parts, create_receiver
from tasks.webhooks.steps import prefect_emitter
from tasks.webhooks.tenants import TenantRouter

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def receiver_parts(settings: Settings, *, emit: Emit | None = None) -> AsyncIterator[Parts]:
    """Store, Zoho client, inbox and processor of a receiver, for its lifetime."""
    async with open_context(settings) as ctx:
        inbox = Inbox(ctx.store)
        crm = LiveCrm(ctx, refresh_s=settings.webhook.index_refresh_s)
        pipeline = Pipeline(ctx, emit=emit)
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
    """Serve every tenant's webhooks on one port until stopped."""
    app = tenants_receiver_app(directory, emit=prefect_emitter())
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    print(
        f"callsync webhook receiver on http://{host}:{port}/t/<tenant>/ringostat/"
        f" (pickup, after-call, outgoing-after-call) for the tenants of {directory.path}",
        flush=True,
    )
    await uvicorn.Server(config).serve()


async def listen(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the receiver until stopped (Ctrl-C / SIGTERM)."""
    host = host or settings.webhook.host
    port = settings.webhook.port if port is None else port
    app = receiver_app(settings, emit=prefect_emitter())
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    print(
        f"callsync webhook receiver on http://{host}:{port}/ringostat/"
        " (pickup, after-call, outgoing-after-call)",
        flush=True,
    )
    await uvicorn.Server(config).serve()


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
