"""The exactly-once writer against an in-memory Zoho (tests/unit/writer_fakes.py) and a real store.

Ordering, link filling, rejection isolation, dependency blocking, ledger hits, unknown outcomes,
and reruns after a crash at every point of a run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.plan import Attachment, CallPlan, PlannedWrite, PlanStatus
from tasks.lease import LEASE_NAME, LEASE_TTL, LeaseLost, run_lease
from tasks.store import Store
from tasks.zoho.errors import RetriableError
from tasks.zoho.writer import execute_plans, execute_writes, uniqueid_of
from tests.unit.writer_fakes import FakeResult, FakeZoho

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Store]:
    st = Store("sqlite://", clock=lambda: T0)
    yield st
    st.close()


@pytest.fixture
def zoho() -> FakeZoho:
    crm = FakeZoho()
    crm.seed("Leads", "L0", Last_Name="+380671112233")
    crm.seed("Contacts", "C0", Last_Name="Client")
    return crm


def lead(uid: str, **fields: Any) -> PlannedWrite:
    return PlannedWrite(
        sync_key=f"{uid}/lead",
        module="Leads",
        op="insert",
        fields={"Last_Name": f"+38050{uid}", "Owner": {"id": "u1"}, **fields},
        owner_id="u1",
        kind="lead",
    )


def task(
    uid: str, slot: str = "task", *, on_lead: str | None = None, **fields: Any
) -> PlannedWrite:
    """A task on a planned lead (``on_lead`` = its sync key) or else on the seeded lead L0."""
    base: dict[str, Any] = {"Subject": f"Call {uid}", "Owner": {"id": "u1"}, "$se_module": "Leads"}
    if on_lead is None:
        base["What_Id"] = {"id": "L0"}
    base.update(fields)
    return PlannedWrite(
        sync_key=f"{uid}/{slot}",
        module="Tasks",
        op="insert",
        fields=base,
        owner_id="u1",
        links={"What_Id": on_lead} if on_lead else {},
        kind="log_task",
    )


def call_record(uid: str, *, on_lead: str) -> PlannedWrite:
    return PlannedWrite(
        sync_key=f"{uid}/call",
        module="Calls",
        op="insert",
        fields={"Subject": "Inbound call", "Call_Type": "Inbound", "$se_module": "Leads"},
        owner_id="u1",
        links={"What_Id": on_lead},
        kind="call",
    )


def utm_update(uid: str, record_id: str | None = "L0", **fields: Any) -> PlannedWrite:
    return PlannedWrite(
        sync_key=f"{uid}/utm",
        module="Leads",
        op="update",
        fields={"rs_utm_source": "google", **fields},
        owner_id="u1",
        record_id=record_id,
        kind="utm",
    )


def plan(uid: str, *writes: PlannedWrite, planned_lead: str | None = None) -> CallPlan:
    att = (
        Attachment("Leads", None, "u1", planned_key=planned_lead)
        if planned_lead
        else Attachment("Leads", "L0", "u1")
    )
    return CallPlan(
        uniqueid=uid,
        status=PlanStatus.PLANNED,
        row=1 if planned_lead else 3,
        reason=None,
        client_status="new" if planned_lead else "existing",
        attachment=att,
        ambiguous=False,
        employee_user_id="u1",
        writes=writes,
    )


def new_client(uid: str) -> CallPlan:
    key = f"{uid}/lead"
    return plan(uid, lead(uid), task(uid, on_lead=key), planned_lead=key)


def ingest(store: Store, plans: Sequence[CallPlan]) -> None:
    store.ingest([{"uniqueid": p.uniqueid} for p in plans], run_id="r1")


def status(store: Store, uid: str) -> tuple[str, str | None]:
    rec = store.call(uid)
    assert rec is not None
    return rec.status, rec.reason


def assert_each_key_at_most_once(zoho: FakeZoho) -> None:
    keys = zoho.all_keys()
    assert len(keys) == len(set(keys)), sorted(keys)


# -- ordering and links ------------------------------------------------------------------------


async def test_leads_first_then_activities_then_updates(store: Store, zoho: FakeZoho) -> None:
    plans = [
        plan("e1", task("e1"), utm_update("e1")),
        new_client("n1"),
        plan(
            "n2",
            lead("n2"),
            task("n2", on_lead="n2/lead"),
            call_record("n2", on_lead="n2/lead"),
            planned_lead="n2/lead",
        ),
        new_client("n3"),
    ]
    ingest(store, plans)
    report = await execute_plans(plans, zoho, store)

    assert zoho.requests == [
        ("insert", "Leads", 3),
        ("insert", "Tasks", 4),
        ("insert", "Calls", 1),
        ("update", "Leads", 1),
    ]
    assert report.requests == 4
    assert report.count("Leads", "insert", "success") == 3
    assert report.count("Tasks", "insert", "success") == 4
    assert report.count("Leads", "update", "success") == 1
    assert report.call_statuses == {"synced": 4}
    assert report.failures == []
    for uid in ("e1", "n1", "n2", "n3"):
        assert status(store, uid) == ("synced", None)
    assert zoho.records["Leads"]["L0"]["rs_utm_source"] == "google"
    assert "rs_sync_key" not in zoho.records["Leads"]["L0"]  # updates never touch the key


async def test_links_are_filled_with_the_lead_id(store: Store, zoho: FakeZoho) -> None:
    key = "n1/lead"
    plans = [
        plan(
            "n1",
            lead("n1"),
            task("n1", on_lead=key, What_Id={"name": "kept"}),
            call_record("n1", on_lead=key),
            planned_lead=key,
        ),
        # A later call from the same number attaches to the lead planned for the first one.
        plan("n2", task("n2", on_lead=key), planned_lead=key),
    ]
    ingest(store, plans)
    await execute_plans(plans, zoho, store)

    [new_lead] = zoho.with_key(key)
    lead_id = new_lead["id"]
    [t1] = zoho.with_key("n1/task")
    [t2] = zoho.with_key("n2/task")
    [c1] = zoho.with_key("n1/call")
    assert t1["What_Id"] == {"name": "kept", "id": lead_id}
    assert t1["$se_module"] == "Leads"
    assert t2["What_Id"] == {"id": lead_id}
    assert c1["What_Id"] == {"id": lead_id}
    ledger = store.ledger(["n1/lead", "n1/task", "n2/task"])
    assert ledger["n1/lead"].zoho_id == lead_id
    assert ledger["n1/task"].zoho_id == t1["id"]
    n1, n2 = store.call("n1"), store.call("n2")
    assert n1 is not None and n2 is not None
    assert n1.attached_id == lead_id and n2.attached_id == lead_id


# -- failures ----------------------------------------------------------------------------------


async def test_one_rejected_record_fails_alone(store: Store, zoho: FakeZoho) -> None:
    plans = [plan(f"e{i}", task(f"e{i}")) for i in range(5)]
    zoho.reject.add("e2/task")
    ingest(store, plans)
    report = await execute_plans(plans, zoho, store)

    assert zoho.requests == [("insert", "Tasks", 5)]
    assert report.count("Tasks", "insert", "success") == 4
    assert report.count("Tasks", "insert", "failed") == 1
    [failure] = report.failures
    assert (failure.uniqueid, failure.sync_key, failure.code) == ("e2", "e2/task", "INVALID_DATA")
    assert failure.message == "invalid data"
    rec = store.ledger(["e2/task"])["e2/task"]
    assert (rec.status, rec.error_code, rec.error_message) == (
        "failed",
        "INVALID_DATA",
        "invalid data",
    )
    assert status(store, "e2") == ("failed", "INVALID_DATA")
    assert [status(store, f"e{i}")[0] for i in (0, 1, 3, 4)] == ["synced"] * 4
    assert report.call_statuses == {"synced": 4, "failed": 1}
    assert len(zoho.records["Tasks"]) == 4


async def test_writes_that_depend_on_a_rejected_lead_are_blocked(
    store: Store, zoho: FakeZoho
) -> None:
    key = "n1/lead"
    plans = [
        plan(
            "n1",
            lead("n1"),
            task("n1", on_lead=key),
            call_record("n1", on_lead=key),
            planned_lead=key,
        ),
        plan("n2", task("n2", on_lead=key), planned_lead=key),
        new_client("n3"),
    ]
    zoho.reject.add(key)
    ingest(store, plans)
    report = await execute_plans(plans, zoho, store)

    # The blocked writes were never sent.
    assert zoho.requests == [("insert", "Leads", 2), ("insert", "Tasks", 1)]
    assert zoho.with_key("n1/task") == [] and zoho.with_key("n2/task") == []
    ledger = store.ledger(["n1/lead", "n1/task", "n1/call", "n2/task", "n3/task"])
    assert ledger["n1/lead"].status == "failed"
    for key_ in ("n1/task", "n1/call", "n2/task"):
        assert (ledger[key_].status, ledger[key_].error_code) == ("blocked", "dependency_failed")
        assert "n1/lead" in (ledger[key_].error_message or "")
    assert ledger["n3/task"].status == "success"
    # The call's first error is its own lead's; the other call failed through the dependency.
    assert status(store, "n1") == ("failed", "INVALID_DATA")
    assert status(store, "n2") == ("failed", "dependency_failed")
    assert status(store, "n3") == ("synced", None)
    assert report.count("Tasks", "insert", "blocked") == 2
    assert report.count("Calls", "insert", "blocked") == 1
    assert {f.code for f in report.failures} == {"INVALID_DATA", "dependency_failed"}


async def test_link_to_a_key_nobody_planned_is_blocked(store: Store, zoho: FakeZoho) -> None:
    plans = [plan("x1", task("x1", on_lead="ghost/lead"), planned_lead="ghost/lead")]
    ingest(store, plans)
    await execute_plans(plans, zoho, store)
    assert zoho.requests == []
    assert status(store, "x1") == ("failed", "dependency_failed")


async def test_link_to_a_lead_written_by_an_earlier_run(store: Store, zoho: FakeZoho) -> None:
    first = [new_client("n1")]
    ingest(store, first)
    await execute_plans(first, zoho, store)
    lead_id = zoho.with_key("n1/lead")[0]["id"]

    later = [plan("n2", task("n2", on_lead="n1/lead"), planned_lead="n1/lead")]
    ingest(store, later)
    report = await execute_plans(later, zoho, store)
    assert zoho.with_key("n2/task")[0]["What_Id"] == {"id": lead_id}
    assert report.call_statuses == {"synced": 1}


async def test_update_without_record_id_fails_without_a_request(
    store: Store, zoho: FakeZoho
) -> None:
    plans = [plan("e1", task("e1"), utm_update("e1", record_id=None))]
    ingest(store, plans)
    report = await execute_plans(plans, zoho, store)
    assert zoho.requests == [("insert", "Tasks", 1)]
    assert status(store, "e1") == ("failed", "MISSING_RECORD_ID")
    assert report.count("Leads", "update", "failed") == 1


async def test_rejected_update_keeps_zoho_code(store: Store, zoho: FakeZoho) -> None:
    plans = [plan("e1", utm_update("e1", rs_utm_medium="REJECT"))]
    ingest(store, plans)
    await execute_plans(plans, zoho, store)
    assert status(store, "e1") == ("failed", "INVALID_DATA")


# -- ledger hits, reruns -------------------------------------------------------------------------


async def test_second_run_sends_nothing(store: Store, zoho: FakeZoho) -> None:
    plans = [new_client("n1"), plan("e1", task("e1"), utm_update("e1"))]
    ingest(store, plans)
    await execute_plans(plans, zoho, store)
    sent = list(zoho.requests)

    report = await execute_plans(plans, zoho, store)
    assert zoho.requests == sent
    assert report.saved_by_ledger == 4
    assert report.requests == 0
    assert report.count("Leads", "insert", "reused") == 1
    assert report.call_statuses == {"synced": 2}
    assert store.ledger(["n1/lead"])["n1/lead"].attempts == 1


async def test_planner_decisions_without_writes(store: Store, zoho: FakeZoho) -> None:
    skipped = CallPlan("s1", PlanStatus.SKIPPED, 10, "outbound_no_entity", "new", None, False, None)
    empty = CallPlan("p1", PlanStatus.PLANNED, 3, None, "existing", None, False, "u1")
    ingest(store, [skipped, empty])
    report = await execute_plans([skipped, empty], zoho, store)
    assert zoho.requests == []
    assert status(store, "p1") == ("synced", None)
    assert status(store, "s1") == ("pending", None)  # untouched: record_calls sets skipped
    assert report.call_statuses == {"synced": 1}


async def test_a_sync_key_planned_twice_is_refused(store: Store, zoho: FakeZoho) -> None:
    plans = [plan("e1", task("e1")), plan("e1", task("e1"))]
    with pytest.raises(ValueError, match="more than once"):
        await execute_plans(plans, zoho, store)
    assert zoho.requests == []
    assert store.ledger(["e1/task"]) == {}


def crash_plans() -> list[CallPlan]:
    return [
        new_client("n1"),
        plan(
            "n2",
            lead("n2"),
            task("n2", on_lead="n2/lead"),
            call_record("n2", on_lead="n2/lead"),
            planned_lead="n2/lead",
        ),
        plan("n3", task("n3", on_lead="n1/lead"), planned_lead="n1/lead"),
        plan("e1", task("e1"), task("e1", "task-responsible"), utm_update("e1")),
    ]


@pytest.mark.parametrize("crash_after", range(10))
async def test_rerun_after_a_crash_completes_without_duplicates(
    store: Store, zoho: FakeZoho, crash_after: int
) -> None:
    plans = crash_plans()
    total = sum(len(p.writes) for p in plans)  # 9 writes
    ingest(store, plans)
    zoho.crash_points = [crash_after]

    with pytest.raises(RetriableError):
        await execute_plans(plans, zoho, store)
    assert zoho.applied == crash_after
    # Nothing is finished while writes are outstanding; what was answered stays recorded.
    assert {status(store, p.uniqueid)[0] for p in plans} == {"pending"}
    ledger = store.ledger(w.sync_key for p in plans for w in p.writes)
    assert len(ledger) >= min(total, 1)
    assert sum(r.status == "success" for r in ledger.values()) <= crash_after

    report = await execute_plans(plans, zoho, store)
    assert_each_key_at_most_once(zoho)
    inserts = [w.sync_key for p in plans for w in p.writes if w.op == "insert"]
    assert sorted(zoho.all_keys()) == sorted(inserts)
    assert {status(store, p.uniqueid) for p in plans} == {("synced", None)}
    assert report.call_statuses == {"synced": 4}
    # The record applied just before the drop was answered "duplicate" on the rerun.
    if 0 < crash_after < total:
        assert report.duplicates + report.count("Leads", "update", "success") >= 1


class LostAnswers(FakeZoho):
    """A fake whose insert answers for some keys stay unknown (as the client reports them)."""

    def __init__(self, unknown: set[str]) -> None:
        super().__init__()
        self.unknown = unknown

    async def insert(
        self,
        module: str,
        records: Sequence[Any],
        *,
        sync_key_field: str = "rs_sync_key",
        on_batch: Any = None,
    ) -> list[FakeResult]:
        results = await super().insert(module, records, sync_key_field=sync_key_field)
        return [
            FakeResult(False, None, "OUTCOME_UNKNOWN", "answer lost", {})
            if rec.get(sync_key_field) in self.unknown
            else res
            for rec, res in zip(records, results, strict=True)
        ]


async def test_unknown_outcome_leaves_the_call_pending(store: Store) -> None:
    zoho = LostAnswers({"n1/lead"})
    plans = [new_client("n1"), new_client("n2")]
    ingest(store, plans)
    report = await execute_plans(plans, zoho, store)
    assert store.ledger(["n1/lead"])["n1/lead"].status == "pending"
    assert store.ledger(["n1/task"])["n1/task"].status == "pending"
    assert report.count("Leads", "insert", "unknown") == 1
    assert report.count("Tasks", "insert", "waiting") == 1
    assert status(store, "n1") == ("pending", None)
    assert status(store, "n2") == ("synced", None)
    assert report.call_statuses == {"pending": 1, "synced": 1}
    assert [r["uniqueid"] for r in store.work()] == ["n1"]

    zoho.unknown.clear()
    report = await execute_plans([new_client("n1")], zoho, store)
    assert report.duplicates == 1  # the lead had been written: found by its key
    assert status(store, "n1") == ("synced", None)
    assert_each_key_at_most_once(zoho)


async def test_client_answering_the_wrong_number_of_results_is_an_error(store: Store) -> None:
    class Short(FakeZoho):
        async def insert(
            self,
            module: str,
            records: Sequence[Any],
            *,
            sync_key_field: str = "rs_sync_key",
            on_batch: Any = None,
        ) -> list[FakeResult]:
            return (await super().insert(module, records, sync_key_field=sync_key_field))[:-1]

    plans = [plan("e1", task("e1")), plan("e2", task("e2"))]
    ingest(store, plans)
    with pytest.raises(ValueError, match="1 results for 2 records"):
        await execute_plans(plans, Short(), store)


# -- bare writes (late recordings) -----------------------------------------------------------


async def test_execute_writes_updates_synced_tasks(store: Store, zoho: FakeZoho) -> None:
    plans = [plan("e1", task("e1"))]
    ingest(store, plans)
    await execute_plans(plans, zoho, store)
    [(key, module, task_id)] = store.synced_writes("e1")
    assert module == "Tasks"

    update = PlannedWrite(
        sync_key=f"{key}#recording",
        module="Tasks",
        op="update",
        fields={"Description": "with recording https://rec/1.mp3"},
        owner_id="u1",
        record_id=task_id,
        kind="recording",
    )
    report = await execute_writes([update], zoho, store)
    assert report.count("Tasks", "update", "success") == 1
    assert zoho.records["Tasks"][task_id]["Description"].endswith("1.mp3")
    assert store.ledger([update.sync_key])[update.sync_key].uniqueid == "e1"
    assert status(store, "e1") == ("synced", None)
    assert report.call_statuses == {}


@pytest.mark.parametrize(
    ("key", "uid"),
    [("ua-1/lead", "ua-1"), ("a/b/task", "a/b"), ("x/task#recording", "x"), ("plain", "plain")],
)
def test_uniqueid_of(key: str, uid: str) -> None:
    assert uniqueid_of(key) == uid


# -- fencing -----------------------------------------------------------------------------------


async def test_a_run_that_lost_its_lease_stops_before_its_next_write_request(
    tmp_path: Path, zoho: FakeZoho
) -> None:
    now = [T0]
    url = f"sqlite:///{tmp_path / 'state.db'}"
    mine, other = Store(url, clock=lambda: now[0]), Store(url, clock=lambda: now[0])
    plans = [new_client("n1")]  # two requests: the lead, then its task
    ingest(mine, plans)
    with run_lease(mine, what="sync", run_id="r1") as lease:

        def fence() -> None:
            lease.check()
            # This request goes out; then the run pauses past its lease, and another takes it.
            now[0] += LEASE_TTL + timedelta(seconds=1)
            assert other.acquire_lease(LEASE_NAME, "other", "sync run r2", LEASE_TTL) is None

        with pytest.raises(LeaseLost, match="another run took it over"):
            await execute_plans(plans, zoho, mine, fence=fence)
    assert zoho.requests == [("insert", "Leads", 1)]
    assert mine.ledger(["n1/task"])["n1/task"].status == "pending"  # the successor sends it
    mine.close()
    other.close()
