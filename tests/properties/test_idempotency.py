"""Exactly once, whatever happens: random plans, random rejections, random crash points.

Running the writer again and again until a run completes must leave every sync key in the
(fake) CRM at most once — exactly once when its ledger row says ``success`` — and every planned
call ``synced`` or ``failed``, with ``failed`` exactly when one of its writes did not succeed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.plan import Attachment, CallPlan, PlannedWrite, PlanStatus
from tasks.store import Store
from tasks.zoho.errors import RetriableError
from tasks.zoho.writer import WriteReport, execute_plans
from tests.unit.writer_fakes import FakeZoho

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class CallSpec:
    kind: str  # "new": creates a lead; "again": links to an earlier call's lead; "existing"
    second_task: bool
    call_record: bool
    update: bool


call_specs = st.builds(
    CallSpec,
    kind=st.sampled_from(["new", "again", "existing"]),
    second_task=st.booleans(),
    call_record=st.booleans(),
    update=st.booleans(),
)


def build_plans(specs: list[CallSpec]) -> list[CallPlan]:
    plans: list[CallPlan] = []
    leads: list[str] = []
    for i, spec in enumerate(specs):
        uid = f"c{i}"
        writes: list[PlannedWrite] = []
        lead_key: str | None = None
        if spec.kind == "new" or (spec.kind == "again" and not leads):
            lead_key = f"{uid}/lead"
            writes.append(
                PlannedWrite(lead_key, "Leads", "insert", {"Last_Name": uid}, "u1", kind="lead")
            )
            leads.append(lead_key)
        elif spec.kind == "again":
            lead_key = leads[i % len(leads)]
        slots = ["task", "task-responsible"] if spec.second_task else ["task"]
        for slot in slots:
            fields: dict[str, Any] = {"Subject": f"{uid} {slot}", "$se_module": "Leads"}
            if lead_key is None:
                fields["What_Id"] = {"id": "L0"}
            writes.append(
                PlannedWrite(
                    f"{uid}/{slot}",
                    "Tasks",
                    "insert",
                    fields,
                    "u1",
                    links={"What_Id": lead_key} if lead_key else {},
                )
            )
        if spec.call_record:
            fields = {"Subject": uid} if lead_key else {"Subject": uid, "What_Id": {"id": "L0"}}
            writes.append(
                PlannedWrite(
                    f"{uid}/call",
                    "Calls",
                    "insert",
                    fields,
                    "u1",
                    links={"What_Id": lead_key} if lead_key else {},
                )
            )
        if spec.update:
            writes.append(
                PlannedWrite(f"{uid}/utm", "Leads", "update", {"n": uid}, "u1", record_id="L0")
            )
        att = Attachment("Leads", None if lead_key else "L0", "u1", planned_key=lead_key)
        plans.append(
            CallPlan(uid, PlanStatus.PLANNED, 1, None, "new", att, False, "u1", tuple(writes))
        )
    return plans


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[CallPlan], set[str], list[int]]:
    plans = build_plans(draw(st.lists(call_specs, min_size=1, max_size=6)))
    keys = [w.sync_key for p in plans for w in p.writes]
    inserts = [w.sync_key for p in plans for w in p.writes if w.op == "insert"]
    rejected = draw(st.sets(st.sampled_from(inserts), max_size=3))
    crashes = sorted(draw(st.lists(st.integers(0, len(keys) + 2), max_size=4)))
    return plans, rejected, crashes


def run_until_done(plans: list[CallPlan], zoho: FakeZoho, store: Store) -> WriteReport:
    for _ in range(len(zoho.crash_points) + 1):
        try:
            return asyncio.run(execute_plans(plans, zoho, store))
        except RetriableError:
            continue  # the next run (a Prefect retry, or the next schedule) picks it up
    raise AssertionError("the writer did not finish after every crash point was spent")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_sync_key_exactly_once(scenario: tuple[list[CallPlan], set[str], list[int]]) -> None:
    plans, rejected, crashes = scenario
    zoho = FakeZoho(reject=set(rejected), crash_points=list(crashes))
    zoho.seed("Leads", "L0", Last_Name="existing")
    store = Store("sqlite://", clock=lambda: T0)
    try:
        store.ingest([{"uniqueid": p.uniqueid} for p in plans], run_id="r1")
        run_until_done(plans, zoho, store)

        writes = [w for p in plans for w in p.writes]
        ledger = store.ledger(w.sync_key for w in writes)
        crm_keys = zoho.all_keys()
        assert len(crm_keys) == len(set(crm_keys)), "a sync key was written twice"
        for w in writes:
            rec = ledger[w.sync_key]
            if w.op == "insert":
                found = zoho.with_key(w.sync_key)
                if rec.status == "success":
                    assert [r["id"] for r in found] == [rec.zoho_id]
                else:
                    assert found == [], f"{w.sync_key} is in Zoho but {rec.status} in the ledger"
            assert rec.status in ("success", "failed", "blocked")
            if w.sync_key in rejected:
                assert rec.status != "success"
            for dep in w.links.values():
                if ledger[dep].status != "success":
                    assert (rec.status, rec.error_code) == ("blocked", "dependency_failed")
                elif rec.status == "success":
                    [sent] = zoho.with_key(w.sync_key)
                    assert sent["What_Id"]["id"] == ledger[dep].zoho_id

        for p in plans:
            call = store.call(p.uniqueid)
            assert call is not None
            bad = [ledger[w.sync_key] for w in p.writes if ledger[w.sync_key].status != "success"]
            first_bad = bad[0] if bad else None
            if first_bad is None:
                assert (call.status, call.reason) == ("synced", None)
            else:
                assert (call.status, call.reason) == ("failed", first_bad.error_code)

        # Once done, running again changes nothing in the CRM.
        before = {m: dict(recs) for m, recs in zoho.records.items()}
        report = asyncio.run(execute_plans(plans, zoho, store))
        assert {m: dict(recs) for m, recs in zoho.records.items()} == before
        assert report.saved_by_ledger == sum(r.status == "success" for r in ledger.values())
    finally:
        store.close()
