"""The webhook inbox, in webhook events: stored first, handled after.

The receiver answers 200 only after :meth:`Inbox.add` committed the event, so an event that was
answered 200 survives a crash of the receiver; on start the receiver handles what is still
``pending``, and the sync flow finishes what ``failed``. The table, its statuses and what
"durably" means are the store's (:mod:`tasks.store.inbox`); this class only turns webhook events
into its rows and back.

A webhook that cannot be read goes to the store's quarantine with reason ``bad_webhook``
(never the token: the row kept is the parameters without it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from models.tables import WebhookEventRecord
from tasks.store import Store
from tasks.store.inbox import BAD_WEBHOOK, DONE, FAILED, PENDING, Finished
from tasks.webhooks.events import EventKind, WebhookEvent, first_answerer

__all__ = ["BAD_WEBHOOK", "DONE", "FAILED", "PENDING", "Finished", "Inbox"]


def _event(rec: WebhookEventRecord) -> WebhookEvent:
    return WebhookEvent(
        kind=EventKind(rec.event),
        uniqueid=rec.uniqueid,
        row=json.loads(rec.row_json),
        received_at=rec.received_at,
    )


class Inbox:
    """The ``webhook_inbox`` of a :class:`~tasks.store.Store`, as webhook events."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, event: WebhookEvent) -> bool:
        """Store the event durably; False when it was already there (a repeat: nothing changes)."""
        return self.store.inbox_add(
            key=event.key,
            event=event.kind.value,
            uniqueid=event.uniqueid,
            row=event.row,
            received_at=event.received_at,
        )

    def quarantine(self, params: Mapping[str, Any], reason: str, uniqueid: str | None) -> None:
        """A webhook that cannot be read: kept in quarantine as ``bad_webhook``."""
        self.store.inbox_quarantine(params, reason, uniqueid)

    def waiting(
        self, *, statuses: Sequence[str] = (PENDING,), limit: int = 500
    ) -> list[WebhookEvent]:
        """Events to handle, oldest first (the processor takes a batch's pickups first)."""
        return [_event(r) for r in self.store.inbox_waiting(statuses=statuses, limit=limit)]

    def finish(self, results: Sequence[Finished]) -> None:
        """Record how each event was handled (``attempts`` + 1)."""
        self.store.inbox_finish(results)

    def first_answerers(self, uniqueids: Iterable[str]) -> dict[str, str]:
        """uniqueid → the employee its pickup webhook named (who answered first), for the calls
        among ``uniqueids`` that had a pickup naming one. Feed it to
        :func:`tasks.calls.with_first_answerers` before planning."""
        keys = {f"{EventKind.PICKUP.value}:{u}": u for u in uniqueids}
        out: dict[str, str] = {}
        for key, rec in self.store.inbox_rows(keys).items():
            who = first_answerer(json.loads(rec.row_json))
            if who is not None:
                out[keys[key]] = who
        return out

    def get(self, event_key: str) -> WebhookEventRecord | None:
        """One stored event by its key (``<event>:<uniqueid>``)."""
        return self.store.inbox_rows([event_key]).get(event_key)

    def counts(self) -> dict[str, int]:
        """``{"<event>/<status>[/<outcome>]": n}``, for summaries, the demo and tests."""
        return self.store.inbox_counts()
