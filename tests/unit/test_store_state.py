"""State store: the write ledger, finishing calls, cursors, the phone index, runs, the engine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from store_support import T0, Clock
from store_support import clock as clock
from store_support import store as store

from models.call import Phone
from models.crm import CrmRecord, ZohoUser
from models.plan import CallStatus, PlannedWrite, RotationTurn
from tasks.store import Store, WriteOutcome


def write(key: str, module: str = "Tasks", op: str = "insert", **kw: Any) -> PlannedWrite:
    return PlannedWrite(
        sync_key=key,
        module=module,  # type: ignore[arg-type]
        op=op,  # type: ignore[arg-type]
        fields=kw.get("fields", {"Subject": "Call"}),
        owner_id="u1",
        record_id=kw.get("record_id"),
        links=kw.get("links", {}),
        kind=kw.get("kind", "log_task"),
    )


# -- ledger --------------------------------------------------------------------------------------


def test_intent_then_results(store: Store) -> None:
    lead = write("a/lead", "Leads", kind="lead", fields={"Last_Name": "+380501112233"})
    task = write("a/task", links={"What_Id": "a/lead"})
    store.record_intent([("a", lead), ("a", task)])
    ledger = store.ledger(["a/lead", "a/task", "nope"])
    assert set(ledger) == {"a/lead", "a/task"}
    assert {r.status for r in ledger.values()} == {"pending"}
    assert ledger["a/lead"].attempts == 1
    assert (ledger["a/lead"].module, ledger["a/lead"].op, ledger["a/lead"].kind) == (
        "Leads",
        "insert",
        "lead",
    )
    assert json.loads(ledger["a/task"].payload_json) == {
        "fields": {"Subject": "Call"},
        "links": {"What_Id": "a/lead"},
    }

    store.record_results(
        [
            WriteOutcome.success("a/lead", "L1"),
            WriteOutcome.failed("a/task", "INVALID_DATA", "invalid data"),
        ]
    )
    ledger = store.ledger(["a/lead", "a/task"])
    assert (ledger["a/lead"].status, ledger["a/lead"].zoho_id) == ("success", "L1")
    assert (ledger["a/task"].status, ledger["a/task"].error_code) == ("failed", "INVALID_DATA")
    assert ledger["a/task"].error_message == "invalid data"

    # A retry records intent again: attempts grow, the error is cleared, success stays.
    store.record_intent([("a", lead), ("a", task)])
    ledger = store.ledger(["a/lead", "a/task"])
    assert (ledger["a/lead"].status, ledger["a/lead"].attempts) == ("success", 1)
    assert (ledger["a/task"].status, ledger["a/task"].attempts) == ("pending", 2)
    assert ledger["a/task"].error_code is None


def test_success_is_never_downgraded(store: Store) -> None:
    store.record_intent([("a", write("a/task"))])
    store.record_results([WriteOutcome.success("a/task", "T1")])
    store.record_results([WriteOutcome.failed("a/task", "INVALID_DATA", "x")])
    store.record_results([WriteOutcome.blocked("a/task", "dependency")])
    rec = store.ledger(["a/task"])["a/task"]
    assert (rec.status, rec.zoho_id) == ("success", "T1")


def test_blocked_and_unknown_keys(store: Store) -> None:
    store.record_intent([("a", write("a/task"))])
    store.record_results([WriteOutcome.blocked("a/task", "a/lead failed")])
    rec = store.ledger(["a/task"])["a/task"]
    assert (rec.status, rec.error_code, rec.error_message) == (
        "blocked",
        "dependency_failed",
        "a/lead failed",
    )
    with pytest.raises(ValueError, match="no recorded intent"):
        store.record_results([WriteOutcome.success("b/task", "T9")])
    with pytest.raises(ValueError, match="without a Zoho id"):
        store.record_results([WriteOutcome("a/task", "success")])


def test_synced_writes_lists_written_tasks_and_calls(store: Store) -> None:
    writes = [
        write("a/lead", "Leads"),
        write("a/task"),
        write("a/task-responsible"),
        write("a/call", "Calls"),
        write("a/utm", "Leads", "update", record_id="L0"),
        write("b/task"),
    ]
    store.record_intent([(w.sync_key.split("/")[0], w) for w in writes])
    store.record_results(
        [
            WriteOutcome.success("a/lead", "L1"),
            WriteOutcome.success("a/task", "T1"),
            WriteOutcome.failed("a/task-responsible", "INVALID_DATA", "x"),
            WriteOutcome.success("a/call", "C1"),
            WriteOutcome.success("a/utm", "L0"),
            WriteOutcome.success("b/task", "T2"),
        ]
    )
    assert store.synced_writes("a") == [("a/call", "Calls", "C1"), ("a/task", "Tasks", "T1")]
    assert store.created_ids("Leads") == ["L1"]  # the update of L0 created nothing
    assert store.created_ids("Tasks") == ["T1", "T2"]


def test_finish_calls(store: Store, clock: Clock) -> None:
    store.ingest([{"uniqueid": u} for u in ("a", "b")], run_id="r1")
    store.record_intent([("b", write("b/lead", "Leads")), ("b", write("b/task"))])
    store.record_results(
        [
            WriteOutcome.failed("b/lead", "INVALID_DATA", "Last_Name too long"),
            WriteOutcome.blocked("b/task", "depends on b/lead"),
        ]
    )
    store.finish_calls({"a": (CallStatus.SYNCED, None), "b": (CallStatus.FAILED, "INVALID_DATA")})
    a, b = store.call("a"), store.call("b")
    assert a is not None and b is not None
    assert (a.status, a.synced_at) == ("synced", clock.now)
    assert (b.status, b.reason, b.synced_at) == ("failed", "INVALID_DATA", None)
    assert b.detail == "b/lead: Last_Name too long"
    with pytest.raises(ValueError, match="does not hold"):
        store.finish_calls({"zz": (CallStatus.SYNCED, None)})


# -- cursors -------------------------------------------------------------------------------------


def test_cursor_only_moves_forward(store: Store) -> None:
    assert store.get_cursor("ringostat:calls") is None
    t1 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert store.set_cursor("ringostat:calls", t1) == t1
    assert store.get_cursor("ringostat:calls") == t1
    assert store.get_cursor("ringostat:calls").tzinfo is not None  # type: ignore[union-attr]
    assert store.set_cursor("ringostat:calls", t1 - timedelta(hours=1)) == t1
    assert store.get_cursor("ringostat:calls") == t1
    t2 = t1 + timedelta(minutes=5)
    assert store.set_cursor("ringostat:calls", t2) == t2
    assert store.get_cursor("ringostat:calls") == t2
    assert store.get_cursor("other") is None


def test_cursor_rejects_naive_datetimes(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_cursor("c", datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001


def test_cursor_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/state.db"
    with Store(url, clock=clock) as first:
        first.set_cursor("c", T0)
    with Store(url, clock=clock) as second:
        assert second.get_cursor("c") == T0


def test_naive_clock_is_refused() -> None:
    st = Store("sqlite://", clock=lambda: datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        st.ingest([{"uniqueid": "a"}], run_id="r")


# -- phone index ---------------------------------------------------------------------------------


def phone(e164: str) -> Phone:
    return Phone(e164, e164, e164[-9:], 380, True)


def test_index_round_trip_and_deletion(store: Store) -> None:
    lead = CrmRecord(
        "Leads",
        "L1",
        "u1",
        T0,
        phones=(phone("+380501112233"), phone("+380661234567")),
        converted=True,
        name="Lead One",
        utm={"rs_utm_source": "google"},
    )
    contact = CrmRecord("Contacts", "C1", "u2", T0, phones=(phone("+380671112233"),))
    deal = CrmRecord("Deals", "D1", "u2", T0, stage="Negotiation/Review", contact_id="C1")
    marks = {"Leads": T0, "Contacts": T0 - timedelta(days=1)}
    store.save_index([lead, contact, deal], marks)

    records, loaded_marks = store.load_index()
    assert records == {("Leads", "L1"): lead, ("Contacts", "C1"): contact, ("Deals", "D1"): deal}
    assert records[("Leads", "L1")].utm == {"rs_utm_source": "google"}
    assert loaded_marks == marks

    moved = CrmRecord(
        "Leads", "L1", "u3", T0 + timedelta(hours=1), phones=(phone("+380501112233"),)
    )
    later = {"Leads": T0 + timedelta(hours=1), "Contacts": T0 - timedelta(days=2)}
    store.save_index({("Leads", "L1"): moved}, later, deleted=[("Contacts", "C1"), ("Deals", "X")])
    records, loaded_marks = store.load_index()
    assert records == {("Leads", "L1"): moved, ("Deals", "D1"): deal}
    # Watermarks never move back either.
    assert loaded_marks == {"Leads": T0 + timedelta(hours=1), "Contacts": T0 - timedelta(days=1)}

    # A record restored in Zoho comes back.
    store.save_index([contact], {})
    assert ("Contacts", "C1") in store.load_index()[0]


def test_index_phone_keys_column(store: Store) -> None:
    lead = CrmRecord("Leads", "L1", "u1", T0, phones=(phone("+380501112233"),))
    store.save_index([lead], {})
    with store.engine.connect() as conn:
        keys = conn.execute(text("select phone_keys from crm_index")).scalar_one()
    assert keys == " 501112233 "


def test_index_watermark_must_be_aware(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.save_index([], {"Leads": datetime(2026, 1, 1)})  # noqa: DTZ001


# -- runs ----------------------------------------------------------------------------------------


def test_runs(store: Store, clock: Clock) -> None:
    start, end = T0 - timedelta(hours=2), T0
    store.start_run("r1", "sync", start, end)
    run = store.run("r1")
    assert run is not None
    assert (run.status, run.window_start, run.window_end, run.finished_at) == (
        "running",
        start,
        end,
        None,
    )
    clock.now = T0 + timedelta(minutes=3)
    store.finish_run("r1", "completed", {"new": 3, "when": T0})
    run = store.run("r1")
    assert run is not None
    assert (run.status, run.finished_at) == ("completed", clock.now)
    assert json.loads(run.summary_json) == {"new": 3, "when": str(T0)}
    with pytest.raises(ValueError, match="no run"):
        store.finish_run("r2", "completed", {})


# -- engine --------------------------------------------------------------------------------------


def test_sqlite_file_uses_wal_and_creates_its_folder(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    with Store(f"sqlite:///{path}", clock=clock) as st:
        assert path.parent.is_dir()
        with st.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_two_stores_on_one_file_see_each_other(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    with Store(url, clock=clock) as one, Store(url, clock=clock) as two:
        one.ingest([{"uniqueid": "a"}], run_id="r1")
        result = two.ingest([{"uniqueid": "a"}, {"uniqueid": "b"}], run_id="r2")
        assert (result.new, result.unchanged) == (1, 1)
        assert [r["uniqueid"] for r in one.work()] == ["a", "b"]


def test_in_memory_store_keeps_data_across_sessions(clock: Clock) -> None:
    with Store("sqlite://", clock=clock) as st:
        st.ingest([{"uniqueid": "a"}], run_id="r1")
        st.ingest([{"uniqueid": "b"}], run_id="r1")
        assert len(st.work()) == 2


def test_users_are_remembered_and_a_vanished_user_turns_inactive(store: Store) -> None:
    anna = ZohoUser(id="1", email="anna@acme.test", full_name="Anna", role="Manager")
    boris = ZohoUser(id="2", email="boris@acme.test", full_name="Boris")
    store.save_users([anna, boris])
    store.save_users([ZohoUser(id="1", email="anna@acme.test", full_name="Anna Ivanova")])
    with store.engine.connect() as conn:
        got = conn.execute(text("select id, full_name, active from zoho_users order by id")).all()
    assert [tuple(r) for r in got] == [("1", "Anna Ivanova", True), ("2", "Boris", False)]


# -- the call-back rotation's turn ------------------------------------------------------------


def test_rotation_turn_is_kept_between_runs(store: Store, clock: Clock) -> None:
    assert store.rotation_turn() == RotationTurn()  # never saved: the first in the list starts
    assert store.save_rotation_turn(RotationTurn("u-anna"))
    assert store.rotation_turn() == RotationTurn("u-anna")
    clock.tick()
    assert store.save_rotation_turn(RotationTurn("u-petro"), expected=RotationTurn("u-anna"))
    assert store.rotation_turn() == RotationTurn("u-petro")
    assert store.rotation_turn("other") == RotationTurn()  # turns are kept by name


def test_rotation_turn_moved_by_another_process_is_not_overwritten(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    with Store(url, clock=Clock()) as sync, Store(url, clock=Clock()) as receiver:
        start = sync.rotation_turn()
        assert receiver.rotation_turn() == start
        # both planned from the same turn; the receiver saved first
        assert receiver.save_rotation_turn(RotationTurn("u-anna"), expected=start)
        assert not sync.save_rotation_turn(RotationTurn("u-anna"), expected=start)
        assert sync.rotation_turn() == RotationTurn("u-anna")  # read again, re-plan from here
        assert sync.save_rotation_turn(RotationTurn("u-petro"), expected=RotationTurn("u-anna"))
        assert receiver.rotation_turn() == RotationTurn("u-petro")
