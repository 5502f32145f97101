"""The Prefect side of the webhook path: every handled event in Prefect's feed.

Visibility: every event handled is a **Prefect event** (``callsync.webhook.<event>.<outcome>``,
resource ``callsync.call.<uniqueid>``, payload with the outcome, the Zoho id and the seconds from
arrival to handled), shown in the UI's event feed and usable by automations. Not a flow or task
run per event: creating a run costs several API round trips (create, states, logs) — 100 ms and
more with a server — between the webhook and the lead, against a 2 s target; ``emit_event`` only
queues the event for Prefect's background events worker (microseconds on the receiver's path).
What fails stays in the inbox and is finished by the next ``callsync-sync`` run (its pipeline's
first stage), which the UI can retry.
"""

from __future__ import annotations

import logging

from tasks.pipeline.webhooks import Emit, Handled

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
