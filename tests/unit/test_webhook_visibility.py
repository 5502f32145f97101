"""How a handled webhook shows in Prefect, and the receiver as a service of ``callsync serve``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from flows.runtime.listen import receiver_service
from tasks.pipeline.webhooks import Handled
from tasks.webhooks.events import EventKind, WebhookEvent
from tasks.webhooks.steps import prefect_event


def test_a_handled_event_is_one_prefect_event_named_by_its_outcome() -> None:
    event = WebhookEvent(
        EventKind.PICKUP,
        "u-1",
        {"caller": "380501112233"},
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    handled = Handled(event, "done", "lead_created", None, "5000001", 0.4321)
    name, resource, payload = prefect_event(handled)
    assert name == "callsync.webhook.pickup.lead_created"
    assert resource["prefect.resource.id"] == "callsync.call.u-1"
    assert payload["zoho_id"] == "5000001" and payload["seconds_since_received"] == 0.432
    assert "380501112233" not in str(payload) + str(resource)  # no phone number in Prefect
    skipped = Handled(event, "done", "no_lead:own_number")
    assert prefect_event(skipped)[0] == "callsync.webhook.pickup.no_lead"


def test_serve_without_a_token_says_how_to_switch_the_receiver_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CALLSYNC_CONFIG", raising=False)
    asyncio.run(receiver_service(None))
    out = capsys.readouterr().out
    assert out.startswith("webhook receiver: off (set [webhook] token")
