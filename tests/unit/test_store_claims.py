"""Phone claims and call-back rows in the state store, on SQLite and PostgreSQL (two stores on
one database stand for the log sync and the receiver)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.call import Phone
from models.plan import CallbackNote, PlannedWrite
from tasks.store import Store, WriteOutcome
from tasks.store.claims import CLAIM_TTL, LeadClaim
from tests.support.databases import BACKENDS
from tests.unit.store_support import Two, two_stores

T0 = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)
UA = Phone("+380671112233", "+380671112233", "671112233", 380, True)
PL = Phone("+48671112233", "+48671112233", "671112233", 48, True)


@pytest.fixture(params=BACKENDS)
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Two]:
    with two_stores(request.param, tmp_path, T0) as stores:
        yield stores


def claim(uid: str, phone: Phone = UA) -> LeadClaim:
    return LeadClaim(phone, f"{uid}/lead", uid, "owner")


def lead(uid: str) -> PlannedWrite:
    return PlannedWrite(f"{uid}/lead", "Leads", "insert", {"Last_Name": "x"}, "owner", kind="lead")


def test_one_path_wins_a_number_until_its_lead_is_answered(two: Two) -> None:
    sync, receiver, _ = two
    assert sync.claim_leads([claim("a")]).won == {"671112233"}
    lost = receiver.claim_leads([claim("b")])
    assert (lost.won, dict(lost.lost)) == (frozenset(), {"671112233": "a/lead"})
    # what the loser's next planning sees: the lead being created
    assert [(c.sync_key, c.owner_id) for c in receiver.claims_for_keys(["671112233"])] == [
        ("a/lead", "owner")
    ]
    assert sync.claim_leads([claim("a")]).won == {"671112233"}  # the same lead again: a retry

    # Zoho answered the lead: the claim goes in the same transaction
    sync.record_intent([("a", lead("a"))])
    sync.record_results([WriteOutcome.success("a/lead", "L1")])
    assert receiver.claims_for_keys(["671112233"]) == []
    assert receiver.claim_leads([claim("b")]).won == {"671112233"}
    receiver.release_claims(["b/lead"])
    assert sync.phone_claims() == []


def test_an_expired_claim_is_taken_over_and_another_country_never_blocks(two: Two) -> None:
    sync, receiver, clock = two
    sync.claim_leads([claim("a")])
    # +48 67 111 22 33 shares nine digits with the holder's +380 67 111 22 33: another client
    assert receiver.claim_leads([claim("p", PL)]).won == {"671112233"}
    clock.now += CLAIM_TTL + timedelta(seconds=1)  # the holder died before writing
    assert receiver.claims_for_keys(["671112233"]) == []
    assert receiver.claim_leads([claim("b")]).won == {"671112233"}
    assert dict(sync.claim_leads([claim("a")]).lost) == {"671112233": "b/lead"}


def test_two_paths_claiming_at_once_never_both_win(two: Two) -> None:
    sync, receiver, _ = two
    keys = [f"67{n:07d}" for n in range(50)]
    phones = [Phone("+380" + k, "+380" + k, k, 380, True) for k in keys]
    won: dict[str, frozenset[str]] = {}
    start = threading.Barrier(2)

    def run(name: str, store: Store) -> None:
        start.wait()
        won[name] = store.claim_leads(
            [LeadClaim(p, f"{name}-{p.key}/lead", f"{name}-{p.key}", "o") for p in phones]
        ).won

    threads = [
        threading.Thread(target=run, args=("sync", sync)),
        threading.Thread(target=run, args=("receiver", receiver)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won["sync"] & won["receiver"] == frozenset()
    assert won["sync"] | won["receiver"] == set(keys)


def test_call_back_rows_follow_the_writes_zoho_accepted(two: Two) -> None:
    sync, receiver, _ = two
    opened = PlannedWrite(
        "m1/task",
        "Tasks",
        "insert",
        {"Subject": "Call back"},
        "top",
        kind="open_task",
        callback=CallbackNote("open", "m1/task", UA, "m1", T0, "first", "top"),
    )
    merged = PlannedWrite(
        "m2/task",
        "Tasks",
        "update",
        {"Description": "first\nCall 2"},
        "top",
        record_id="T1",
        kind="callback_merge",
        callback=CallbackNote("merge", "m1/task", UA, "m2", T0, "first\nCall 2", "top"),
    )
    done = CallbackNote(
        "complete", "m1/task", UA, "a3", T0 + timedelta(minutes=5), "x", "top", "anna", "Anna"
    )
    sync.record_intent([("m1", opened)])
    sync.record_results([WriteOutcome.success("m1/task", "T1", callback=opened.callback)])
    receiver.record_intent([("m2", merged)])
    receiver.record_results([WriteOutcome.success("m2/task", "T1", callback=merged.callback)])
    [cb] = sync.open_callbacks(["671112233"])
    assert (cb.task_id, cb.calls, cb.description) == ("T1", 2, "first\nCall 2")
    receiver.record_intent([("a3", PlannedWrite("a3/callback-done", "Tasks", "update", {}, "top"))])
    receiver.record_results([WriteOutcome.success("a3/callback-done", "T1", callback=done)])
    assert sync.open_callbacks(["671112233"]) == []
    [row] = sync.callback_rows()
    assert (row.status, row.closed_by, row.closed_call, row.calls) == ("completed", "anna", "a3", 2)
