"""The webhook inbox in the state store (``webhook_inbox``): stored first, handled after.

The receiver answers 200 only after :meth:`Inbox.add` committed the event, so an event that was
answered 200 survives a crash of the receiver; on start the receiver handles what is still
``pending``, and the sync flow finishes what ``failed``. One row per ``<event>:<uniqueid>``:
Ringostat (or a proxy) repeating a webhook finds its row and nothing changes.

"Durably": the insert is committed before the answer. With SQLite (WAL, ``synchronous =
NORMAL``) a committed event survives a crash of the process; a power loss of the machine can
lose the last commits — a production receiver keeps its state store in PostgreSQL.

A webhook that cannot be read goes to the store's quarantine with reason ``bad_webhook``
(never the token: the row kept is the parameters without it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select

from models.tables import QuarantineRecord, WebhookEventRecord
from tasks.store import Store
from tasks.store.base import chunks
from tasks.store.rows import fingerprint, to_json
from tasks.webhooks.events import EventKind, WebhookEvent

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


class Inbox:
    """The ``webhook_inbox`` table of a :class:`~tasks.store.Store` (created on first use)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        table = SQLModel.metadata.tables[str(WebhookEventRecord.__tablename__)]
        SQLModel.metadata.create_all(store.engine, tables=[table])

    def add(self, event: WebhookEvent) -> bool:
        """Store the event durably; False when it was already there (a repeat: nothing changes)."""
        values = {
            "event_key": event.key,
            "event": event.kind.value,
            "uniqueid": event.uniqueid,
            "row_json": to_json(dict(event.row)),
            "received_at": event.received_at,
            "status": PENDING,
            "attempts": 0,
        }
        try:
            with self.store._tx() as session:
                if session.get(WebhookEventRecord, event.key) is not None:
                    return False
                session.connection().execute(insert(WebhookEventRecord), [values])
        except IntegrityError:
            if self.get(event.key) is None:
                raise  # not a repeat: the store refused the event, it is not stored
            return False  # a concurrent repeat won the insert
        return True

    def quarantine(self, params: Mapping[str, Any], reason: str, uniqueid: str | None) -> None:
        """A webhook that cannot be read: kept in quarantine as ``bad_webhook``."""
        raw = to_json({"webhook": dict(params)})
        row_hash = fingerprint({"webhook": dict(params)})
        now = self.store._now()
        with self.store._tx() as session:
            entry = session.get(QuarantineRecord, row_hash)
            if entry is None:
                session.add(
                    QuarantineRecord(
                        row_hash=row_hash,
                        uniqueid=uniqueid or None,
                        reason=BAD_WEBHOOK,
                        detail=reason,
                        raw_json=raw,
                        created_at=now,
                    )
                )

    def waiting(
        self, *, statuses: Sequence[str] = (PENDING,), limit: int = 500
    ) -> list[WebhookEvent]:
        """Events to handle, oldest first (pickups before the rest of the same moment)."""
        with self.store._tx() as session:
            rows = session.exec(
                select(WebhookEventRecord)
                .where(col(WebhookEventRecord.status).in_(list(statuses)))
                .order_by(col(WebhookEventRecord.received_at), col(WebhookEventRecord.event_key))
                .limit(limit)
            ).all()
        return [
            WebhookEvent(
                kind=EventKind(r.event),
                uniqueid=r.uniqueid,
                row=json.loads(r.row_json),
                received_at=r.received_at,
            )
            for r in rows
        ]

    def finish(self, results: Sequence[Finished]) -> None:
        """Record how each event was handled (``attempts`` + 1)."""
        if not results:
            return
        now = self.store._now()
        by_key = {r.event_key: r for r in results}
        with self.store._tx() as session:
            for batch in chunks(list(by_key)):
                recs = session.exec(
                    select(WebhookEventRecord).where(col(WebhookEventRecord.event_key).in_(batch))
                )
                for rec in recs:
                    res = by_key[rec.event_key]
                    if rec.status == DONE and res.status != DONE:
                        continue  # handled already (e.g. by the receiver while a sync ran)
                    rec.status = res.status
                    rec.outcome = res.outcome
                    rec.detail = res.detail
                    rec.zoho_id = res.zoho_id or rec.zoho_id
                    rec.attempts += 1
                    rec.processed_at = now
                    session.add(rec)

    def get(self, event_key: str) -> WebhookEventRecord | None:
        with self.store._tx() as session:
            return session.get(WebhookEventRecord, event_key)

    def counts(self) -> dict[str, int]:
        """``{"<event>/<status>[/<outcome>]": n}``, for summaries, the demo and tests."""
        with self.store._tx() as session:
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

    def latencies(self, kind: EventKind, outcome: str) -> list[float]:
        """Seconds from arrival to handled, of the events of ``kind`` that came to ``outcome``."""
        with self.store._tx() as session:
            rows = session.exec(
                select(WebhookEventRecord.received_at, WebhookEventRecord.processed_at).where(
                    WebhookEventRecord.event == kind.value,
                    WebhookEventRecord.outcome == outcome,
                )
            ).all()
        return [(done - got).total_seconds() for got, done in rows if done is not None]
