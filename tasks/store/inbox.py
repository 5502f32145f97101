"""The webhook inbox in the state store (``webhook_inbox``): stored first, handled after.

One row per ``<event>:<uniqueid>``: Ringostat (or a proxy) repeating a webhook finds its row and
nothing changes. A row is ``pending`` (stored, not handled yet), ``done`` (handled; ``outcome``
says how) or ``failed`` (handling failed: the next sync run finishes it).

"Durably": :meth:`InboxMixin.inbox_add` returns once the insert is committed, and the receiver
answers 200 only after it. With SQLite (WAL, ``synchronous = NORMAL``) a committed event survives
a crash of the process; a power loss of the machine can lose the last commits — a production
receiver keeps its state store in PostgreSQL.

A webhook that cannot be read goes to the quarantine table with reason ``bad_webhook``.

The store speaks in table rows and plain values; :class:`tasks.webhooks.inbox.Inbox` turns them
into webhook events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from models.tables import QuarantineRecord, WebhookEventRecord
from tasks.store.base import StoreBase, chunks
from tasks.store.rows import fingerprint, to_json

PENDING = "pending"
DONE = "done"
FAILED = "failed"
BAD_WEBHOOK = "bad_webhook"


@dataclass(frozen=True, slots=True)
class Finished:
    """What handling one event came to: ``done`` with an outcome, or ``failed`` with why."""

    event_key: str
    status: str
    outcome: str
    detail: str | None = None
    zoho_id: str | None = None


class InboxMixin(StoreBase):
    """The ``webhook_inbox`` table (and the quarantine of unreadable webhooks)."""

    def inbox_add(
        self,
        *,
        key: str,
        event: str,
        uniqueid: str,
        row: Mapping[str, Any],
        received_at: datetime,
    ) -> bool:
        """Store an event durably as ``pending``; False when ``key`` was already there (a repeat:
        nothing changes)."""
        values = {
            "event_key": key,
            "event": event,
            "uniqueid": uniqueid,
            "row_json": to_json(dict(row)),
            "received_at": received_at,
            "status": PENDING,
            "attempts": 0,
        }
        try:
            with self._tx() as session:
                if session.get(WebhookEventRecord, key) is not None:
                    return False
                session.connection().execute(insert(WebhookEventRecord), [values])
        except IntegrityError:
            if not self.inbox_rows([key]):
                raise  # not a repeat: the store refused the event, it is not stored
            return False  # a concurrent repeat won the insert
        return True

    def inbox_quarantine(
        self, params: Mapping[str, Any], reason: str, uniqueid: str | None
    ) -> None:
        """A webhook that cannot be read: kept once (by its parameters' hash) as ``bad_webhook``.
        ``params`` must already be without the token."""
        kept = {"webhook": dict(params)}
        row_hash = fingerprint(kept)
        now = self._now()
        with self._tx() as session:
            if session.get(QuarantineRecord, row_hash) is None:
                session.add(
                    QuarantineRecord(
                        row_hash=row_hash,
                        uniqueid=uniqueid or None,
                        reason=BAD_WEBHOOK,
                        detail=reason,
                        raw_json=to_json(kept),
                        created_at=now,
                    )
                )

    def inbox_waiting(
        self, *, statuses: Sequence[str] = (PENDING,), limit: int = 500
    ) -> list[WebhookEventRecord]:
        """Events in ``statuses``, oldest first (by arrival, then key), at most ``limit``."""
        with self._tx() as session:
            return list(
                session.exec(
                    select(WebhookEventRecord)
                    .where(col(WebhookEventRecord.status).in_(list(statuses)))
                    .order_by(
                        col(WebhookEventRecord.received_at), col(WebhookEventRecord.event_key)
                    )
                    .limit(limit)
                ).all()
            )

    def inbox_finish(self, results: Sequence[Finished]) -> None:
        """Record how each event was handled (``attempts`` + 1). An event already ``done`` stays
        done: another handler (the receiver while a sync ran) finished it first."""
        if not results:
            return
        now = self._now()
        by_key = {r.event_key: r for r in results}
        with self._tx() as session:
            for batch in chunks(list(by_key)):
                recs = session.exec(
                    select(WebhookEventRecord).where(col(WebhookEventRecord.event_key).in_(batch))
                )
                for rec in recs:
                    res = by_key[rec.event_key]
                    if rec.status == DONE and res.status != DONE:
                        continue
                    rec.status = res.status
                    rec.outcome = res.outcome
                    rec.detail = res.detail
                    rec.zoho_id = res.zoho_id or rec.zoho_id
                    rec.attempts += 1
                    rec.processed_at = now
                    session.add(rec)

    def inbox_rows(self, event_keys: Iterable[str]) -> dict[str, WebhookEventRecord]:
        """The stored events among ``event_keys`` (``<event>:<uniqueid>``), by key."""
        found: dict[str, WebhookEventRecord] = {}
        with self._tx() as session:
            for batch in chunks(list(dict.fromkeys(event_keys))):
                rows = session.exec(
                    select(WebhookEventRecord).where(col(WebhookEventRecord.event_key).in_(batch))
                )
                found.update((r.event_key, r) for r in rows)
        return found

    def inbox_counts(self) -> dict[str, int]:
        """``{"<event>/<status>[/<outcome>]": n}``, for summaries, the demo and tests."""
        with self._tx() as session:
            rows = session.exec(
                select(
                    WebhookEventRecord.event,
                    WebhookEventRecord.status,
                    WebhookEventRecord.outcome,
                    func.count(),
                ).group_by(
                    col(WebhookEventRecord.event),
                    col(WebhookEventRecord.status),
                    col(WebhookEventRecord.outcome),
                )
            ).all()
        out: dict[str, int] = {}
        for event, status, outcome, n in rows:
            key = f"{event}/{status}" + (f"/{outcome}" if outcome else "")
            out[key] = int(n)
        return out
