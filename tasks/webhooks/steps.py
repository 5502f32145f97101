"""The Prefect side of the webhook path: events in Prefect's feed, and the sync flow's step that
finishes what the receiver left in the inbox.

Visibility: every event handled is a **Prefect event** (``callsync.webhook.<event>.<outcome>``,
resource ``callsync.call.<uniqueid>``, payload with the outcome, the Zoho id and the seconds from
arrival to handled), shown in the UI's event feed and usable by automations. Not a flow or task
run per event: creating a run costs several API round trips (create, states, logs) — 100 ms and
more with a server — between the webhook and the lead, against a 2 s target; ``emit_event`` only
queues the event for Prefect's background events worker (microseconds on the receiver's path).
What fails stays in the inbox and is finished by the next ``callsync-sync`` run in its
``finish-webhooks`` task run, which the UI can retry.
"""

from __future__ import annotations

import logging

from prefect import task
from prefect.cache_policies import NO_CACHE

from models.crm import ZohoUser
from models.settings import Settings
from tasks.crm_sync import CrmView, refresh_crm
from tasks.store import Store
from tasks.webhooks.inbox import FAILED, PENDING, Inbox
from tasks.webhooks.process import Emit, Handled, WebhookProcessor
from tasks.zoho.client import ZohoClient

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
    """Report each handled event to Prefect (queued; never waits for the API) and log it."""
    from prefect.events import emit_event

    related = [
        {"prefect.resource.id": "callsync.webhook-receiver", "prefect.resource.role": "receiver"}
    ]

    def emit(handled: Handled) -> None:
        name, resource, payload = prefect_event(handled)
        emit_event(event=name, resource=resource, related=related, payload=payload)
        log.info(
            "webhook %s %s: %s in %.3fs",
            handled.event.kind.value,
            handled.event.uniqueid,
            handled.outcome,
            handled.seconds,
        )

    return emit


class _Preloaded:
    """The sync flow's users, refreshed into a view once, only if something waits."""

    def __init__(
        self,
        zoho: ZohoClient,
        store: Store,
        settings: Settings,
        users: list[ZohoUser],
        top: ZohoUser,
    ) -> None:
        self._args = (zoho, store, settings, users, top)
        self._view: CrmView | None = None

    async def view(self) -> CrmView:
        if self._view is None:
            zoho, store, settings, users, top = self._args
            self._view = await refresh_crm(zoho, store, settings, users, top, persist=False)
        return self._view


async def finish_inbox(
    zoho: ZohoClient, store: Store, settings: Settings, users: list[ZohoUser], top: ZohoUser
) -> dict[str, int]:
    """Handle what waits in the inbox (pending, and failed before): ``{outcome: events}``."""
    inbox = Inbox(store)
    if not inbox.waiting(statuses=(PENDING, FAILED), limit=1):
        return {}
    crm = _Preloaded(zoho, store, settings, users, top)
    processor = WebhookProcessor(settings, store, zoho, crm, inbox=inbox, emit=prefect_emitter())
    counts: dict[str, int] = {}
    for handled in await processor.drain(retry_failed=True):
        key = f"{handled.event.kind.value}/{handled.status}/{handled.outcome}"
        counts[key] = counts.get(key, 0) + 1
    return counts


@task(name="finish-webhooks", cache_policy=NO_CACHE)
async def finish_webhooks(
    zoho: ZohoClient, store: Store, settings: Settings, users: list[ZohoUser], top: ZohoUser
) -> dict[str, int]:
    return await finish_inbox(zoho, store, settings, users, top)
