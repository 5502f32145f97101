"""``callsync listen``: the Ringostat webhook receiver (SPEC 12), and how its work shows in Prefect.

The receiver is a FastAPI app (:mod:`tasks.webhooks.receiver`) served by uvicorn; a background
worker in the same process handles the inbox through the log sync's planner and writer.

Visibility in Prefect: every event handled is a **Prefect event**
(``callsync.webhook.<event>.<outcome>``, resource ``callsync.call.<uniqueid>``, payload with the
outcome, the Zoho id and the seconds from arrival to handled), shown in the UI's event feed and
usable by automations. Not a flow or task run per event: creating a run is several API round
trips (create, set states, logs) — 100 ms and more with a server — and would sit between the
webhook and the lead, against a 2 s target; ``emit_event`` only queues the event for Prefect's
background events worker, costing microseconds on the worker's path. Events that fail stay in the
inbox and are finished by the next ``callsync-sync`` flow run (a task run there,
``finish-webhooks``), which the UI can retry.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from flows.context import open_context
from models.settings import ConfigError, Settings
from tasks.webhooks.inbox import Inbox
from tasks.webhooks.process import Emit, Handled, LiveCrm, WebhookProcessor
from tasks.webhooks.receiver import Parts, create_receiver

log = logging.getLogger(__name__)


def prefect_event(handled: Handled) -> tuple[str, dict[str, str], dict[str, object]]:
    """(event name, resource, payload) of one handled webhook, as Prefect receives it."""
    outcome = handled.outcome.split(":", 1)[0]
    name = f"callsync.webhook.{handled.event.kind.value}.{outcome}"
    resource = {
        "prefect.resource.id": f"callsync.call.{handled.event.uniqueid}",
        "prefect.resource.name": f"call {handled.event.uniqueid}",
    }
    payload: dict[str, object] = {
        "status": handled.status,
        "outcome": handled.outcome,
        "detail": handled.detail,
        "zoho_id": handled.zoho_id,
        "seconds_since_received": round(handled.seconds, 3),
    }
    return name, resource, payload


def prefect_emitter() -> Emit:
    """Report each handled event to Prefect (queued; never waits for the API)."""
    from prefect.events import emit_event

    def emit(handled: Handled) -> None:
        name, resource, payload = prefect_event(handled)
        emit_event(
            event=name,
            resource=resource,
            related=[
                {
                    "prefect.resource.id": "callsync.webhook-receiver",
                    "prefect.resource.role": "receiver",
                }
            ],
            payload=payload,
        )
        log.info(
            "webhook %s %s: %s in %.3fs",
            handled.event.kind.value,
            handled.event.uniqueid,
            handled.outcome,
            handled.seconds,
        )

    return emit


@contextlib.asynccontextmanager
async def receiver_parts(settings: Settings, *, emit: Emit | None = None) -> AsyncIterator[Parts]:
    """Store, Zoho client, inbox and processor of a receiver, for its lifetime."""
    async with open_context(settings) as ctx:
        inbox = Inbox(ctx.store)
        crm = LiveCrm(ctx.zoho, ctx.store, settings, refresh_s=settings.webhook.index_refresh_s)
        yield inbox, WebhookProcessor(settings, ctx.store, ctx.zoho, crm, inbox=inbox, emit=emit)


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
