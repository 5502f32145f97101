"""The webhook inbox in the store: a repeat changes nothing, oldest first, a done event stays
done, counts by event/status/outcome, unreadable webhooks quarantined once."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text
from store_support import T0
from store_support import clock as clock
from store_support import store as store

from tasks.store import Store
from tasks.store.inbox import BAD_WEBHOOK, DONE, FAILED, PENDING, Finished


def add(store: Store, event: str, uid: str, minute: int = 0) -> bool:
    return store.inbox_add(
        key=f"{event}:{uid}",
        event=event,
        uniqueid=uid,
        row={"uniqueid": uid, "caller": "+380501234567"},
        received_at=T0 + timedelta(minutes=minute),
    )


def test_an_event_is_stored_once_and_a_repeat_changes_nothing(store: Store) -> None:
    assert add(store, "pickup", "u-1") is True
    assert add(store, "pickup", "u-1", minute=5) is False
    assert add(store, "after-call", "u-1", minute=5) is True  # another event of the same call
    [first, second] = store.inbox_waiting()
    assert (first.event_key, first.received_at, first.status) == ("pickup:u-1", T0, PENDING)
    assert json.loads(first.row_json) == {"uniqueid": "u-1", "caller": "+380501234567"}
    assert second.event_key == "after-call:u-1"


def test_waiting_is_oldest_first_within_the_statuses_and_the_limit(store: Store) -> None:
    add(store, "pickup", "late", minute=9)
    add(store, "pickup", "early", minute=1)
    add(store, "after-call", "early", minute=1)
    assert [r.event_key for r in store.inbox_waiting()] == [
        "after-call:early",
        "pickup:early",
        "pickup:late",
    ]
    assert [r.event_key for r in store.inbox_waiting(limit=1)] == ["after-call:early"]
    store.inbox_finish([Finished("pickup:early", FAILED, "error", "boom")])
    assert [r.event_key for r in store.inbox_waiting(statuses=(FAILED,))] == ["pickup:early"]


def test_finish_counts_attempts_and_a_done_event_stays_done(store: Store) -> None:
    add(store, "pickup", "u-1")
    store.inbox_finish([Finished("pickup:u-1", FAILED, "error", "Zoho down")])
    store.inbox_finish([Finished("pickup:u-1", DONE, "lead_created", zoho_id="9001")])
    store.inbox_finish([Finished("pickup:u-1", FAILED, "error", "late duplicate handler")])
    [rec] = store.inbox_waiting(statuses=(DONE,))
    assert (rec.status, rec.outcome, rec.detail, rec.zoho_id) == (
        DONE,
        "lead_created",
        None,
        "9001",
    )
    assert rec.attempts == 2 and rec.processed_at == T0
    store.inbox_finish([])  # nothing to record: no transaction, no error


def test_counts_by_event_status_and_outcome(store: Store) -> None:
    assert store.inbox_counts() == {}
    for uid in ("a", "b", "c"):
        add(store, "pickup", uid)
    add(store, "after-call", "a")
    store.inbox_finish(
        [Finished("pickup:a", DONE, "lead_created"), Finished("pickup:b", DONE, "lead_created")]
    )
    assert store.inbox_counts() == {
        "pickup/done/lead_created": 2,
        "pickup/pending": 1,
        "after-call/pending": 1,
    }


def test_an_unreadable_webhook_is_quarantined_once(store: Store) -> None:
    params = {"event": "pickup", "caller": "+380501234567"}
    store.inbox_quarantine(params, "missing parameter 'uniqueid'", None)
    store.inbox_quarantine(params, "missing parameter 'uniqueid'", None)
    with store.engine.connect() as conn:
        rows = conn.execute(text("select reason, detail, uniqueid, raw_json from quarantine")).all()
    assert len(rows) == 1
    reason, detail, uniqueid, raw = rows[0]
    assert (reason, detail, uniqueid) == (BAD_WEBHOOK, "missing parameter 'uniqueid'", None)
    assert json.loads(raw) == {"webhook": params}
    assert store.inbox_counts() == {}  # not an event
