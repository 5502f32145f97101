"""State store: ingest transitions, the work set, unprocessable rows, quarantine, requeue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, select
from store_support import Clock
from store_support import clock as clock
from store_support import store as store

from models.call import Call, Direction, Outcome, Phone, Unprocessable, Utm
from models.plan import Attachment, CallPlan, CallStatus, PlanStatus
from models.tables import QuarantineRecord
from tasks.store import Store


def row(uid: str | None = "c1", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "calldate": "2026-03-01 10:00:00",
        "call_type": "in",
        "disposition": "ANSWERED",
        "caller": "+380501112233",
        "duration": 60,
    }
    if uid is not None:
        base["uniqueid"] = uid
    base.update(extra)
    return base


def quarantine_rows(store: Store) -> list[QuarantineRecord]:
    with Session(store.engine) as s:
        return list(s.exec(select(QuarantineRecord)).all())


def status_of(store: Store, uid: str) -> tuple[str, str | None]:
    rec = store.call(uid)
    assert rec is not None
    return rec.status, rec.reason


def put_in_status(store: Store, uid: str, status: str) -> None:
    """Bring an ingested call into ``status`` the way the pipeline does."""
    raw = store.raw_row(uid) or {}
    if status == "pending":
        return
    if status in ("deferred", "skipped", "quarantined"):
        reason = {"deferred": "in_progress", "skipped": "transit_call"}.get(status, "bad_calldate")
        store.record_unprocessable([Unprocessable(uid, status, reason, "why", raw)], run_id="r0")
    else:
        code = "INVALID_DATA" if status == "failed" else None
        store.finish_calls({uid: (CallStatus(status), code)})
    assert status_of(store, uid)[0] == status


# -- ingest ------------------------------------------------------------------------------------


def test_new_rows_are_pending_and_counted(store: Store) -> None:
    result = store.ingest([row("a"), row("b")], run_id="r1")
    assert (result.new, result.changed, result.unchanged, result.quarantined) == (2, 0, 0, 0)
    assert status_of(store, "a") == ("pending", None)
    assert store.raw_row("a") == row("a")
    assert store.raw_row("nope") is None


STATUSES = ["pending", "deferred", "quarantined", "skipped", "failed", "synced"]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("change", ["changed", "unchanged"])
def test_ingest_transitions(store: Store, clock: Clock, status: str, change: str) -> None:
    store.ingest([row("a")], run_id="r1")
    put_in_status(store, "a", status)
    before = store.call("a")
    assert before is not None
    clock.tick()

    again = row("a", billsec=42) if change == "changed" else row("a")
    result = store.ingest([again], run_id="r2")

    after = store.call("a")
    assert after is not None
    if change == "unchanged":
        assert (result.unchanged, result.changed, result.new) == (1, 0, 0)
        assert (after.status, after.reason) == (before.status, before.reason)
        assert after.updated_at == before.updated_at
        assert after.fingerprint == before.fingerprint
    else:
        assert (result.unchanged, result.changed, result.new) == (0, 1, 0)
        expected = "synced" if status == "synced" else "pending"
        assert after.status == expected
        if expected == "pending":
            assert after.reason is None
        assert store.raw_row("a") == again
        assert after.fingerprint != before.fingerprint
        assert after.updated_at == clock.now
    assert result.recording_updates == ()


def test_changed_row_reopens_quarantine_entry(store: Store) -> None:
    store.ingest([row("a")], run_id="r1")
    put_in_status(store, "a", "quarantined")
    [entry] = quarantine_rows(store)
    assert entry.requeued_at is None
    store.ingest([row("a", calldate="2026-03-01 10:00:01")], run_id="r2")
    [entry] = quarantine_rows(store)
    assert entry.requeued_at is not None
    assert status_of(store, "a") == ("pending", None)


@pytest.mark.parametrize(
    ("old", "new", "reported"),
    [
        ({}, {"recording": "https://rec/1.mp3"}, True),
        ({"recording": "https://rec/1.mp3"}, {"recording": "https://rec/2.mp3"}, True),
        ({}, {"recording_wav": "https://rec/1.wav"}, True),
        ({"recording": "https://rec/1.mp3"}, {"recording": ""}, False),
        (
            {"recording": "https://rec/1.mp3"},
            {"recording": "https://rec/1.mp3", "billsec": 7},
            False,
        ),
        ({}, {"utm_source": "google"}, False),
    ],
)
def test_synced_call_reports_new_recordings(
    store: Store, old: dict[str, Any], new: dict[str, Any], reported: bool
) -> None:
    store.ingest([row("a", **old)], run_id="r1")
    put_in_status(store, "a", "synced")
    result = store.ingest([row("a", **{**old, **new})], run_id="r2")
    assert result.changed == 1
    assert result.recording_updates == (("a",) if reported else ())
    assert result.refreshed == ("a",)  # every changed synced row: its stored fields follow it
    assert status_of(store, "a")[0] == "synced"
    assert store.work() == []


def test_rows_without_uniqueid_are_quarantined_once(store: Store) -> None:
    bad = row(None)
    blank = row("  ")
    result = store.ingest([bad, row("a"), blank], run_id="r1")
    assert (result.new, result.quarantined) == (1, 2)
    again = store.ingest([bad], run_id="r2")
    assert again.quarantined == 1
    entries = quarantine_rows(store)
    assert len(entries) == 2
    assert {e.reason for e in entries} == {"missing_call_id"}
    assert all(e.uniqueid is None for e in entries)
    assert {json.loads(e.raw_json)["caller"] for e in entries} == {"+380501112233"}
    assert [r["uniqueid"] for r in store.work()] == ["a"]


def test_same_call_twice_in_one_batch(store: Store) -> None:
    result = store.ingest([row("a"), row("a", billsec=5), row("a", billsec=5)], run_id="r1")
    assert (result.new, result.changed, result.unchanged) == (1, 1, 1)
    assert store.raw_row("a") == row("a", billsec=5)


def test_fingerprint_ignores_key_order(store: Store) -> None:
    store.ingest([{"uniqueid": "a", "x": 1, "y": 2}], run_id="r1")
    result = store.ingest([{"y": 2, "x": 1, "uniqueid": "a"}], run_id="r2")
    assert result.unchanged == 1


# -- work ----------------------------------------------------------------------------------------


def test_work_is_pending_and_deferred_in_calldate_order(store: Store) -> None:
    store.ingest(
        [
            row("z", calldate="2026-03-01 10:00:00"),
            row("b", calldate="2026-03-01 09:00:00"),
            row("a", calldate="2026-03-01 10:00:00"),
            row("q", calldate="2026-03-01 08:00:00"),
            row("s", calldate="2026-03-01 08:00:00"),
            row("d", calldate="2026-03-01 11:00:00"),
        ],
        run_id="r1",
    )
    put_in_status(store, "q", "quarantined")
    put_in_status(store, "s", "synced")
    put_in_status(store, "d", "deferred")
    assert [r["uniqueid"] for r in store.work()] == ["b", "a", "z", "d"]


# -- unprocessable, quarantine ---------------------------------------------------------------


def test_record_unprocessable(store: Store) -> None:
    store.ingest([row("a"), row("b"), row("c")], run_id="r1")
    started = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    store.record_unprocessable(
        [
            Unprocessable("a", "quarantined", "unknown_disposition", "disposition 'ODD'", row("a")),
            Unprocessable("b", "skipped", "transit_call", "call_type transitin", row("b"), started),
            Unprocessable("c", "deferred", "in_progress", "IN PROGRESS", row("c")),
            Unprocessable(None, "quarantined", "missing_call_id", "no id", row(None)),
        ],
        run_id="r2",
    )
    assert status_of(store, "a") == ("quarantined", "unknown_disposition")
    assert status_of(store, "b") == ("skipped", "transit_call")
    assert status_of(store, "c") == ("deferred", "in_progress")
    b = store.call("b")
    assert b is not None
    assert b.started_at == started
    assert b.run_id == "r2"
    entries = {e.uniqueid: e for e in quarantine_rows(store)}
    assert set(entries) == {"a", None}
    assert entries["a"].detail == "disposition 'ODD'"
    assert json.loads(entries["a"].raw_json) == row("a")
    assert [r["uniqueid"] for r in store.work()] == ["c"]


def test_record_unprocessable_rejects_unknown_status(store: Store) -> None:
    with pytest.raises(ValueError, match="unprocessable status"):
        store.record_unprocessable([Unprocessable("a", "synced", "x", "y", row("a"))], run_id="r")


def test_unprocessable_never_demotes_a_synced_call(store: Store) -> None:
    store.ingest([row("a")], run_id="r1")
    put_in_status(store, "a", "synced")
    store.record_unprocessable(
        [Unprocessable("a", "quarantined", "bad_calldate", "x", row("a"))], run_id="r2"
    )
    store.quarantine_calls({"a": ("expect_x", "failed")}, run_id="r2")
    assert status_of(store, "a") == ("synced", None)
    assert quarantine_rows(store) == []


def test_quarantine_calls(store: Store) -> None:
    store.ingest([row("a"), row("b")], run_id="r1")
    store.quarantine_calls({"a": ("expect_e164_format", "failed expectation")}, run_id="r2")
    store.quarantine_calls({"a": ("expect_e164_format", "failed expectation")}, run_id="r2")
    assert status_of(store, "a") == ("quarantined", "expect_e164_format")
    [entry] = quarantine_rows(store)
    assert (entry.uniqueid, entry.reason) == ("a", "expect_e164_format")
    with pytest.raises(ValueError, match="does not hold"):
        store.quarantine_calls({"zzz": ("x", "y")}, run_id="r2")


# -- record_calls ------------------------------------------------------------------------------


def make_call(uid: str, raw: dict[str, Any]) -> Call:
    return Call(
        uniqueid=uid,
        started_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        ended_at=datetime(2026, 3, 1, 8, 1, tzinfo=UTC),
        direction=Direction.INBOUND,
        outcome=Outcome.ANSWERED,
        disposition="ANSWERED",
        call_type="in",
        client=Phone("+380501112233", "+380501112233", "501112233", 380, True),
        duration=60,
        billsec=50,
        employee_ids=("anna_sip",),
        employee_label="anna_sip",
        recording_url="https://rec/1.mp3",
        utm=Utm(source="google", medium="cpc", client_id="GA1.2"),
        raw=raw,
    )


def plan(uid: str, status: PlanStatus, reason: str | None = None, **kw: Any) -> CallPlan:
    return CallPlan(
        uniqueid=uid,
        status=status,
        row=kw.get("row", 1),
        reason=reason,
        client_status=kw.get("client_status", "new"),
        attachment=kw.get("attachment"),
        ambiguous=kw.get("ambiguous", False),
        employee_user_id=kw.get("employee_user_id", "u1"),
    )


def test_record_calls_keeps_parsed_fields_and_plan(store: Store) -> None:
    store.ingest([row("a"), row("b"), row("c")], run_id="r1")
    att = Attachment("Leads", None, "u1", planned_key="a/lead")
    store.record_calls(
        [make_call("a", row("a")), make_call("b", row("b")), make_call("c", row("c"))],
        [
            plan("a", PlanStatus.PLANNED, attachment=att, ambiguous=True),
            plan("b", PlanStatus.SKIPPED, "outbound_no_entity", row=10, client_status="new"),
            plan("c", PlanStatus.DEFERRED, "enrich_waiting", row=None, client_status=None),
        ],
        run_id="r2",
    )
    a = store.call("a")
    assert a is not None
    assert (a.status, a.scenario_row, a.client_status, a.ambiguous) == ("pending", 1, "new", True)
    assert (a.attached_module, a.attached_id, a.employee_user_id) == ("Leads", None, "u1")
    assert (a.direction, a.outcome, a.phone_key, a.client_e164) == (
        "inbound",
        "answered",
        "501112233",
        "+380501112233",
    )
    assert (a.utm_source, a.utm_medium, a.client_id, a.recording_url) == (
        "google",
        "cpc",
        "GA1.2",
        "https://rec/1.mp3",
    )
    assert a.started_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert (a.attempts, a.run_id) == (1, "r2")
    assert status_of(store, "b") == ("skipped", "outbound_no_entity")
    assert status_of(store, "c") == ("deferred", "enrich_waiting")

    store.record_attachments({"a": "L-1"})
    a = store.call("a")
    assert a is not None
    assert a.attached_id == "L-1"


def test_record_calls_needs_the_call_for_an_unknown_plan(store: Store) -> None:
    with pytest.raises(ValueError, match="does not hold"):
        store.record_calls([], [plan("x", PlanStatus.PLANNED)], run_id="r")
    store.record_calls([make_call("y", row("y"))], [plan("y", PlanStatus.PLANNED)], run_id="r")
    assert status_of(store, "y") == ("pending", None)
    assert store.raw_row("y") == row("y")


# -- requeue -----------------------------------------------------------------------------------


def test_requeue_quarantined_and_failed(store: Store, clock: Clock) -> None:
    uids = ["q1", "q2", "f1", "s1", "k1", "d1"]
    store.ingest([row(u) for u in uids] + [row(None)], run_id="r1")
    put_in_status(store, "q1", "quarantined")  # reason bad_calldate
    store.quarantine_calls({"q2": ("expect_phone", "failed")}, run_id="r1")
    put_in_status(store, "f1", "failed")
    put_in_status(store, "s1", "synced")
    put_in_status(store, "k1", "skipped")
    put_in_status(store, "d1", "deferred")
    clock.tick()

    only = store.requeue(reason="expect_phone")
    assert (only.requeued, only.without_call_id) == (1, 0)
    assert status_of(store, "q2") == ("pending", None)
    assert status_of(store, "q1")[0] == "quarantined"

    result = store.requeue()
    assert (result.requeued, result.without_call_id) == (2, 1)
    assert "2 call(s)" in result.describe() and "1 quarantined row" in result.describe()
    for uid in ("q1", "q2", "f1"):
        assert status_of(store, uid) == ("pending", None)
    assert [status_of(store, u)[0] for u in ("s1", "k1", "d1")] == ["synced", "skipped", "deferred"]
    entries = {e.uniqueid: e for e in quarantine_rows(store)}
    assert entries["q1"].requeued_at == clock.now
    assert entries["q2"].requeued_at == clock.now
    assert entries[None].requeued_at is None

    assert store.requeue().requeued == 0


def test_requeued_call_quarantined_again_reopens_its_entry(store: Store) -> None:
    store.ingest([row("a")], run_id="r1")
    put_in_status(store, "a", "quarantined")
    store.requeue()
    put_in_status(store, "a", "quarantined")
    [entry] = quarantine_rows(store)
    assert entry.requeued_at is None


# -- counts --------------------------------------------------------------------------------------


def test_call_counts(store: Store) -> None:
    store.ingest([row(u) for u in ("a", "b", "c", "d")], run_id="r1")
    store.record_calls(
        [],
        [
            plan("a", PlanStatus.SKIPPED, "outbound_no_entity", row=10),
            plan("b", PlanStatus.SKIPPED, "outbound_no_entity", row=10),
            plan("c", PlanStatus.PLANNED, row=3),
        ],
        run_id="r2",
    )
    counts = {(c.status, c.reason, c.scenario_row): c.count for c in store.call_counts()}
    assert counts == {
        ("pending", None, None): 1,
        ("pending", None, 3): 1,
        ("skipped", "outbound_no_entity", 10): 2,
    }
    by_run = {(c.status, c.scenario_row): c.count for c in store.call_counts(run_id="r2")}
    assert by_run == {("skipped", 10): 2, ("pending", 3): 1}


def test_a_nul_character_never_fails_the_store(store: Store) -> None:
    """PostgreSQL refuses NUL in text (and would fail the whole batch): the store drops it from
    every text it writes or looks up, on every database alike."""
    result = store.ingest([row("c\x00nul", caller="+380\x00501112233"), row("c2")], run_id="r1")
    assert result.new == 2
    rec = store.call("cnul")
    assert rec is not None and store.call("c\x00nul") is not None
    assert json.loads(rec.raw_json)["caller"] == "+380\x00501112233"  # escaped in JSON: kept
    assert status_of(store, "c2") == ("pending", None)
