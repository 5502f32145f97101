"""The failure alert an operator switches on: a Prefect automation, made from the config.

``[prefect] alert_webhook_url = "https://…"`` (Slack's and Mattermost's incoming webhooks, a
chat bot, any endpoint that takes a JSON POST) or ``[prefect] alert_block = "<type>/<name>"`` (a
notification block made in the Prefect UI: e-mail through SendGrid, Microsoft Teams, PagerDuty,
Opsgenie …). ``callsync serve`` (at its start) and ``callsync alerts`` (after ``prefect deploy``
of the work-pool deployments) make the Prefect server hold:

- for a webhook URL, the notification block ``callsync-alert`` (a Custom Webhook block: POST
  ``{"text": "<subject>\\n<body>"}``, the shape Slack and Mattermost read; the URL, which
  carries the webhook's token, is stored as a secret value of the block);
- the automation ``callsync: a run failed``: when a run of a callsync flow (flow name
  ``callsync-*``) enters Failed or Crashed, send a notification naming the flow, the run, its
  state message and its address in the UI, through that block.

With neither key set, the automation is removed (the block is left: it holds nothing but what the
operator configured). Each call makes the server match the config, so running it again changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from models.settings import PrefectSettings

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

AUTOMATION_NAME = "callsync: a run failed"
WEBHOOK_BLOCK_NAME = "callsync-alert"
WEBHOOK_BLOCK_TYPE = "custom-webhook"
FLOW_NAMES = "callsync-*"
STATES = ("Failed", "Crashed")
SUBJECT = "callsync: {{ flow.name }} run {{ flow_run.name }} is {{ flow_run.state.name }}"
BODY = (
    "callsync run {{ flow.name }}/{{ flow_run.name }} entered {{ flow_run.state.name }}.\n"
    "Reason: {{ flow_run.state.message }}\n"
    "Open it (and retry it) in the Prefect UI: {{ flow_run|ui_url }}"
)


@dataclass(frozen=True)
class AlertResult:
    """What :func:`apply_alert` left on the server, as one line for the operator."""

    enabled: bool
    target: str

    def describe(self) -> str:
        if not self.enabled:
            return (
                "failure alert: off (set [prefect] alert_webhook_url or alert_block to be told "
                "when a run fails)"
            )
        return f"failure alert: on — a failed or crashed run is announced to {self.target}"


def automation_spec(block_document_id: UUID) -> Any:
    """The automation (Prefect's ``AutomationCore``) sending to ``block_document_id``."""
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=AUTOMATION_NAME,
        description="Made by callsync from [prefect] alert_webhook_url / alert_block; "
        "`callsync alerts` or `callsync serve` puts it back as the config says.",
        enabled=True,
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAMES},
            expect={f"prefect.flow-run.{state}" for state in STATES},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT, body=BODY)],
    )


def _redacted(url: str) -> str:
    """The webhook's scheme and host: its path and query usually hold its token."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/…"


async def _block_id(client: PrefectClient, settings: PrefectSettings) -> tuple[UUID, str]:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.exceptions import ObjectNotFound

    url = settings.alert_webhook_url.get_secret_value()
    if url:
        block = CustomWebhookNotificationBlock(
            name="callsync",
            url="{{webhook_url}}",
            json_data={"text": "{{subject}}\n{{body}}"},
            secrets={"webhook_url": url},
        )
        block_id = await block.asave(WEBHOOK_BLOCK_NAME, overwrite=True, client=client)
        return (
            block_id,
            f"the webhook {_redacted(url)} (block {WEBHOOK_BLOCK_TYPE}/{WEBHOOK_BLOCK_NAME})",
        )
    slug, _, name = settings.alert_block.partition("/")
    try:
        document = await client.read_block_document_by_name(
            name, block_type_slug=slug, include_secrets=False
        )
    except ObjectNotFound:
        raise ValueError(
            f"[prefect] alert_block {settings.alert_block!r}: no such block on the Prefect server; "
            "create it in the UI (Blocks → +) or fix the name ('<block-type-slug>/<name>')"
        ) from None
    return document.id, f"the block {settings.alert_block}"


async def apply_alert(settings: PrefectSettings) -> AlertResult:
    """Make the Prefect server's failure alert what ``settings`` says (create, update, remove)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        existing = await client.read_automations_by_name(AUTOMATION_NAME)
        if not (settings.alert_block or settings.alert_webhook_url.get_secret_value()):
            for automation in existing:
                await client.delete_automation(automation.id)
            return AlertResult(False, "")
        block_id, target = await _block_id(client, settings)
        spec = automation_spec(block_id)
        if existing:
            await client.update_automation(existing[0].id, spec)
            for extra in existing[1:]:
                await client.delete_automation(extra.id)
        else:
            await client.create_automation(spec)
        return AlertResult(True, target)


async def send_test_alert(settings: PrefectSettings) -> str:
    """Send one notification through the configured block now (``callsync alerts --test``)."""
    import inspect

    from prefect.blocks.abstract import NotificationBlock
    from prefect.blocks.core import Block

    name = (
        f"{WEBHOOK_BLOCK_TYPE}/{WEBHOOK_BLOCK_NAME}"
        if settings.alert_webhook_url.get_secret_value()
        else settings.alert_block
    )
    if not name:
        raise ValueError(
            "no failure alert configured: set [prefect] alert_webhook_url or alert_block"
        )
    block: object = await Block.aload(name)
    if not isinstance(block, NotificationBlock):
        raise ValueError(f"[prefect] alert_block {name!r} is not a notification block")
    sent = block.notify(
        "This is a test of callsync's failure alert: a failed or crashed run is announced here.",
        subject="callsync: test alert",
    )
    if inspect.isawaitable(sent):  # Prefect's notify is async, or dispatches to its async twin
        await sent
    return f"sent a test alert through {name}"
