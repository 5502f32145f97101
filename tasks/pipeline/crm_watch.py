"""Zoho's notifications: the receiver's phone index follows a CRM change the moment it happens.

Where the receiver is reachable from Zoho (``[webhook] public_url``), it subscribes to Zoho's
notifications (``POST /crm/v8/actions/watch``) for ``Leads.all``, ``Contacts.all`` and
``Deals.all``, with ``<public_url>/zoho/notify`` as the address and a verification token of its
own (derived from ``[webhook] token``, never the token itself). Zoho keeps a channel a day at
most: the receiver's index timer (:class:`tasks.pipeline.webhooks.LiveCrm`) renews it when less
than :data:`RENEW_BEFORE` is left, and a receiver that restarts subscribes again (the same
channel id, derived from the address, so a renewal replaces the channel instead of adding one).

Zoho then posts ``{"module": "Leads", "ids": [...], "operation": "insert" | "update" |
"delete", "token": ..., ...}`` for every change, whoever made it (a web form, a person, an
import). The receiver checks the token, answers at once, and applies the change to the stored
index in the background (:meth:`CrmWatch.apply`): the records named are read by id (one COQL
query per 50) and upserted, a deleted (or no longer readable) one is dropped. A pickup a second
later finds the web form's lead in the index, whatever the phone's format.

Notifications are a shortcut, not the source of truth: one lost (the receiver down, Zoho's own
delivery) is covered by the timer's incremental refresh and the receiver's point lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tasks.pipeline.context import RunContext
from tasks.zoho.index import MODULES, index_fields, records_from_zoho

log = logging.getLogger(__name__)

NOTIFY_PATH = "/zoho/notify"
EVENTS = tuple(f"{module}.all" for module in MODULES)
CHANNEL_LIFE = timedelta(days=1)
"""What the receiver asks for: Zoho's maximum."""
RENEW_BEFORE = timedelta(hours=6)
OPERATIONS = frozenset({"insert", "update", "delete"})
MAX_IDS = 1000
"""More ids than this in one notification are not applied one by one: the next refresh of the
index reads the changes anyway."""


class BadNotification(ValueError):
    """A notification that is not Zoho's (wrong token) or cannot be read."""


@dataclass(frozen=True, slots=True)
class Notification:
    module: str
    ids: tuple[str, ...]
    operation: str


def notify_token(webhook_token: str) -> str:
    """The verification token Zoho echoes in every notification (at most 50 characters)."""
    digest = hmac.new(webhook_token.encode(), b"callsync zoho notifications", hashlib.sha256)
    return digest.hexdigest()[:40]


def channel_id(notify_url: str) -> str:
    """A stable channel id (Zoho wants digits) for an address: renewals replace the channel."""
    return str(int(hashlib.sha256(notify_url.encode()).hexdigest()[:12], 16))


def read_notification(body: Any, expected_token: str) -> Notification:
    """The notification in Zoho's body, or :class:`BadNotification` (one line: what is wrong)."""
    if not isinstance(body, Mapping):
        raise BadNotification("the body is not a JSON object")
    token = body.get("token")
    if not isinstance(token, str) or not hmac.compare_digest(
        token.encode(), expected_token.encode()
    ):
        raise BadNotification("missing or wrong token")
    module, operation, ids = body.get("module"), body.get("operation"), body.get("ids")
    if module not in MODULES:
        raise BadNotification(f"module {str(module)[:40]!r} is not one the index keeps")
    if operation not in OPERATIONS:
        raise BadNotification(f"unknown operation {str(operation)[:40]!r}")
    if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
        raise BadNotification("ids is not a list of record ids")
    clean = tuple(dict.fromkeys(str(i) for i in ids if str(i).isdigit()))
    return Notification(str(module), clean, str(operation))


Applied = Callable[[Notification, int], None]
"""Told of each notification applied, with how many records it changed."""


class CrmWatch:
    """The receiver's subscription to Zoho's notifications and what it does with them."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        clock: Callable[[], datetime],
        on_applied: Applied | None = None,
    ) -> None:
        self._ctx = ctx
        self._clock = clock
        self._on_applied = on_applied
        hook = ctx.settings.webhook
        self.notify_url = f"{hook.public_url}{NOTIFY_PATH}" if hook.public_url else None
        self.token = notify_token(hook.token.get_secret_value())
        self.expires: datetime | None = None
        self.applied = 0
        """Records applied from notifications since the receiver started."""

    @property
    def enabled(self) -> bool:
        return self.notify_url is not None

    async def keep_subscribed(self) -> None:
        """Subscribe, or renew the channel when it ends within :data:`RENEW_BEFORE`."""
        if self.notify_url is None:
            return
        now = self._clock()
        if self.expires is not None and now < self.expires - RENEW_BEFORE:
            return
        self.expires = await self._ctx.zoho.watch(
            channel_id=channel_id(self.notify_url),
            events=EVENTS,
            notify_url=self.notify_url,
            token=self.token,
            expiry=now + CHANNEL_LIFE,
        )
        log.info("Zoho notifications: subscribed until %s", self.expires.isoformat())

    async def apply(self, note: Notification) -> int:
        """Bring the index's copy of the records named up to date; returns how many changed."""
        changed = await self._apply(note)
        self.applied += changed
        if self._on_applied is not None:
            self._on_applied(note, changed)
        return changed

    async def _apply(self, note: Notification) -> int:
        store, sc = self._ctx.store, self._ctx.settings.scenario
        if not note.ids or len(note.ids) > MAX_IDS:
            return 0
        if note.operation == "delete":
            store.save_index([], {}, deleted=[(note.module, i) for i in note.ids])
            return len(note.ids)
        rows = await self._ctx.zoho.records_by_id(
            note.module, note.ids, index_fields(note.module, sc)
        )
        records = records_from_zoho(note.module, rows, sc)
        found = {r.id for r in records}
        gone = [(note.module, i) for i in note.ids if i not in found]
        store.save_index(records, {}, deleted=gone)
        return len(note.ids)
