"""The writer with the real Zoho client against the Zoho emulator (in-process transport).

Every answer is validated against Zoho's OpenAPI files (tests/support). The emulator enforces
the rules that matter here: ``rs_sync_key`` unique, lookups to existing records, picklists,
mandatory fields; its faults drop answers after applying writes and answer 429/5xx.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from emulators.zoho import ZohoState, transport
from models.plan import Attachment, CallPlan, PlannedWrite, PlanStatus
from models.settings import ZohoSettings
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.errors import RetriableError
from tasks.zoho.writer import execute_plans
from tests.support.zoho_harness import BASE_URL, FakeClock, client_for, make_app, yield_sleep

pytestmark = pytest.mark.anyio


@dataclass
class Org:
    app: FastAPI
    http: httpx.AsyncClient
    clock: FakeClock
    owner: str

    def client(self, http: httpx.AsyncClient | None = None, **overrides: Any) -> ZohoClient:
        values: dict[str, Any] = {
            "accounts_url": BASE_URL,
            "api_domain": BASE_URL,
            "client_id": SecretStr("1000.client"),
            "client_secret": SecretStr("secret"),
            "refresh_token": SecretStr("1000.refresh"),
            "max_retries": 8,
        }
        return ZohoClient(
            ZohoSettings(**(values | overrides)),
            http or self.http,
            sleep=yield_sleep,
            clock=self.clock,
            rng=random.Random(7),
        )

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"/__emulator__/{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def dump(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = await self.admin("GET", "dump")
        return result


@pytest.fixture
async def org() -> AsyncIterator[Org]:
    clock = FakeClock()
    app = make_app(clock, sleep=yield_sleep)
    state: ZohoState = app.state.zoho
    owner = next(iter(state.users))
    async with client_for(app) as http:
        seeded = await http.post(
            "/__emulator__/seed",
            json={"Leads": [{"id": "7000000000001", "Last_Name": "Known", "Owner": {"id": owner}}]},
        )
        seeded.raise_for_status()
        yield Org(app, http, clock, owner)


@pytest.fixture
def store() -> Iterator[Store]:
    st = Store("sqlite://", clock=FakeClock())
    yield st
    st.close()


EXISTING = "7000000000001"


def new_caller(uid: str, owner: str, *, status: str = "Completed") -> CallPlan:
    key = f"{uid}/lead"
    lead = PlannedWrite(
        key,
        "Leads",
        "insert",
        {
            "Last_Name": f"+380501{uid[-6:]:0>6}",
            "Phone": "+380501112233",
            "Owner": {"id": owner},
            "rs_utm_source": "google",
        },
        owner,
        kind="lead",
    )
    task = PlannedWrite(
        f"{uid}/task",
        "Tasks",
        "insert",
        {
            "Subject": "Incoming call",
            "Status": status,
            "Owner": {"id": owner},
            "$se_module": "Leads",
        },
        owner,
        links={"What_Id": key},
        kind="log_task",
    )
    call = PlannedWrite(
        f"{uid}/call",
        "Calls",
        "insert",
        {
            "Subject": "Inbound call",
            "Call_Type": "Inbound",
            "Call_Start_Time": "2026-01-18T12:00:00+02:00",
            "Call_Duration": "01:05",
            "Owner": {"id": owner},
            "$se_module": "Leads",
        },
        owner,
        links={"What_Id": key},
        kind="call",
    )
    return CallPlan(
        uid,
        PlanStatus.PLANNED,
        1,
        None,
        "new",
        Attachment("Leads", None, owner, planned_key=key),
        False,
        owner,
        (lead, task, call),
    )


def existing_caller(uid: str, owner: str) -> CallPlan:
    task = PlannedWrite(
        f"{uid}/task",
        "Tasks",
        "insert",
        {
            "Subject": "Call back",
            "Status": "Not Started",
            "Due_Date": "2026-01-18",
            "Owner": {"id": owner},
            "What_Id": {"id": EXISTING},
            "$se_module": "Leads",
        },
        owner,
        kind="open_task",
    )
    utm = PlannedWrite(
        f"{uid}/utm",
        "Leads",
        "update",
        {"rs_utm_campaign": "spring"},
        owner,
        record_id=EXISTING,
        kind="utm",
    )
    return CallPlan(
        uid,
        PlanStatus.PLANNED,
        7,
        None,
        "existing",
        Attachment("Leads", EXISTING, owner),
        False,
        None,
        (task, utm),
    )


def plans_for(org: Org, n: int = 6) -> list[CallPlan]:
    plans = [new_caller(f"ua-{i:06d}", org.owner) for i in range(n)]
    plans.append(existing_caller("ua-existing", org.owner))
    return plans


def by_key(dump: dict[str, list[dict[str, Any]]]) -> Counter[str]:
    return Counter(
        str(r["rs_sync_key"]) for records in dump.values() for r in records if r.get("rs_sync_key")
    )


async def test_writes_land_once_and_linked(org: Org, store: Store) -> None:
    plans = plans_for(org)
    store.ingest([{"uniqueid": p.uniqueid} for p in plans], run_id="r1")
    report = await execute_plans(plans, org.client(), store)

    assert report.call_statuses == {"synced": 7}
    dump = await org.dump()
    keys = by_key(dump)
    assert set(keys.values()) == {1}
    assert len(keys) == 6 * 3 + 1
    leads = {r["rs_sync_key"]: r["id"] for r in dump["Leads"] if r.get("rs_sync_key")}
    for task in dump["Tasks"]:
        uid = task["rs_sync_key"].split("/")[0]
        expected = leads.get(f"{uid}/lead", EXISTING)
        assert task["What_Id"]["id"] == expected
        assert task["$se_module"] == "Leads"
    for call in dump["Calls"]:
        assert call["What_Id"]["id"] == leads[call["rs_sync_key"].replace("/call", "/lead")]
    [known] = [r for r in dump["Leads"] if r["id"] == EXISTING]
    assert known["rs_utm_campaign"] == "spring"

    # A second run of the same plans costs no request at all.
    client = org.client()
    again = await execute_plans(plans, client, store)
    assert again.saved_by_ledger == 6 * 3 + 2
    assert client.stats.requests == 0


async def test_zoho_rejection_fails_one_call_and_blocks_nothing_else(
    org: Org, store: Store
) -> None:
    plans = plans_for(org, 4)
    plans[2] = new_caller("ua-000002", org.owner, status="Not A Status")
    store.ingest([{"uniqueid": p.uniqueid} for p in plans], run_id="r1")
    report = await execute_plans(plans, org.client(), store)

    [failure] = report.failures
    assert (failure.sync_key, failure.code) == ("ua-000002/task", "INVALID_DATA")
    rec = store.ledger(["ua-000002/task"])["ua-000002/task"]
    assert (rec.status, rec.error_code) == ("failed", "INVALID_DATA")
    assert rec.error_message
    failed = store.call("ua-000002")
    assert failed is not None
    assert (failed.status, failed.reason) == ("failed", "INVALID_DATA")
    assert report.call_statuses == {"synced": 4, "failed": 1}
    assert report.count("Tasks", "insert", "success") == 4
    keys = by_key(await org.dump())
    assert "ua-000002/task" not in keys
    assert "ua-000002/lead" in keys and "ua-000002/call" in keys


async def test_lost_answers_and_throttling_still_write_each_key_once(
    org: Org, store: Store
) -> None:
    await org.admin(
        "PUT", "faults", {"seed": 3, "lost_response_rate": 0.4, "rate_429": 0.2, "rate_5xx": 0.1}
    )
    plans = plans_for(org, 12)
    store.ingest([{"uniqueid": p.uniqueid} for p in plans], run_id="r1")
    client = org.client(max_retries=20)
    report = await execute_plans(plans, client, store)
    assert client.stats.retries > 0  # the faults did happen

    await org.admin("PUT", "faults", {"lost_response_rate": 0.0, "rate_429": 0.0, "rate_5xx": 0.0})
    keys = by_key(await org.dump())
    assert set(keys.values()) == {1}
    assert len(keys) == 12 * 3 + 1
    unresolved = report.call_statuses.get("pending", 0)
    if unresolved:  # an answer the client could not resolve: the next run finishes it
        report = await execute_plans(plans, org.client(), store)
        keys = by_key(await org.dump())
        assert set(keys.values()) == {1}
    assert {store.call(p.uniqueid).status for p in plans} == {"synced"}  # type: ignore[union-attr]


class Outage(httpx.AsyncBaseTransport):
    """Passes requests to the emulator until ``after`` CRM writes went through, then answers 503
    to everything until healed: the run dies half-way with a RetriableError."""

    def __init__(self, inner: httpx.AsyncBaseTransport, after: int) -> None:
        self.inner = inner
        self.after = after
        self.writes = 0
        self.healed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_write = request.method in ("POST", "PUT") and "/crm/v8/" in request.url.path
        if is_write and not request.url.path.endswith("/coql"):
            if not self.healed and self.writes >= self.after:
                return httpx.Response(
                    503,
                    json={"code": "INTERNAL_ERROR", "message": "down", "status": "error"},
                    request=request,
                )
            self.writes += 1
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("after", [0, 1, 2, 3])
async def test_rerun_after_an_outage_completes_without_duplicates(
    org: Org, store: Store, after: int
) -> None:
    plans = plans_for(org, 3)
    store.ingest([{"uniqueid": p.uniqueid} for p in plans], run_id="r1")
    outage = Outage(transport(org.app), after)
    async with httpx.AsyncClient(transport=outage, base_url=BASE_URL) as http:
        with pytest.raises(RetriableError):
            await execute_plans(plans, org.client(http, max_retries=1), store)
        assert {store.call(p.uniqueid).status for p in plans} == {"pending"}  # type: ignore[union-attr]

        outage.healed = True
        report = await execute_plans(plans, org.client(http), store)
    assert report.call_statuses == {"synced": 4}
    keys = by_key(await org.dump())
    assert set(keys.values()) == {1}
    assert len(keys) == 3 * 3 + 1
