"""The field map end to end: a planned call's mapped values reach Zoho, cut to their fields.

SPEC 7 (decided): ``[scenario.field_map.Leads]`` / ``.Tasks`` put Ringostat call fields onto
Zoho fields; a value longer than its field is cut to the field's length by the writer (from the
fields metadata), so a long landing page never costs the call its lead.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from emulators.zoho import ZohoState
from emulators.zoho.org import FieldDef
from models.call import Call
from models.crm import CrmSnapshot
from models.settings import Settings
from tasks.calls import parse_row
from tasks.crm_records import user_from_zoho
from tasks.employees import EmployeeMap
from tasks.scenario import plan_calls
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.writer import execute_plans
from tests.support.zoho_harness import BASE_URL, FakeClock, client_for, make_app, yield_sleep

pytestmark = pytest.mark.anyio

LANDING_LENGTH = 120  # a short custom field, so that the cut is visible
LONG_LANDING = "https://shop.example/sofas?" + "&".join(f"p{i}=value{i}" for i in range(200))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    clock = FakeClock()
    app = make_app(clock, sleep=yield_sleep)
    state: ZohoState = app.state.zoho
    leads, tasks = state.modules["Leads"].fields, state.modules["Tasks"].fields
    leads["rs_landing_page"] = FieldDef(
        "rs_landing_page", "text", "Landing page", length=LANDING_LENGTH, custom=True
    )
    tasks["rs_landing_page"] = replace(leads["rs_landing_page"])
    async with client_for(app) as client:
        yield client


@pytest.fixture
def store() -> Iterator[Store]:
    st = Store("sqlite://", clock=FakeClock())
    yield st
    st.close()


def zoho(http: httpx.AsyncClient) -> ZohoClient:
    settings = {
        "accounts_url": BASE_URL,
        "api_domain": BASE_URL,
        "client_id": SecretStr("1000.client"),
        "client_secret": SecretStr("secret"),
        "refresh_token": SecretStr("1000.refresh"),
    }
    return ZohoClient(
        Settings(zoho=settings).zoho,
        http,
        sleep=yield_sleep,
        clock=FakeClock(),
        rng=random.Random(7),
    )


async def test_a_long_mapped_value_is_cut_to_its_field(
    http: httpx.AsyncClient, store: Store
) -> None:
    client = zoho(http)
    users = [user_from_zoho(u) for u in await client.users(active_only=True)]
    top = users[0]
    settings = Settings(
        scenario={
            "top_manager": top.email,
            "field_map": {
                "Leads": {"rs_landing_page": "landing"},
                "Tasks": {"rs_landing_page": "landing"},
            },
        }
    )
    row: dict[str, Any] = {
        "uniqueid": "long-1",
        "calldate": "2026-01-18 10:00:00",
        "call_type": "in",
        "disposition": "NO ANSWER",
        "caller": "+380501112233",
        "duration": 20,
        "landing": LONG_LANDING,
    }
    call = parse_row(row, settings)
    assert isinstance(call, Call)
    plans = plan_calls(
        [call],
        CrmSnapshot.build(users, []),
        EmployeeMap.build((), users, settings.scenario),
        settings,
        now=datetime(2026, 1, 18, 12, 0, tzinfo=UTC),
    )
    # the plan carries the value as it came; fitting it to Zoho is the writer's job
    assert [w.fields["rs_landing_page"] for w in plans[0].writes] == [LONG_LANDING] * 2
    store.ingest([row], run_id="r1")

    report = await execute_plans(plans, client, store)

    assert report.call_statuses == {"synced": 1}, report.failures
    dump = (await http.get("/__emulator__/dump")).json()
    [lead] = [r for r in dump["Leads"] if r.get("rs_sync_key") == "long-1/lead"]
    [task] = [r for r in dump["Tasks"] if r.get("rs_sync_key") == "long-1/task"]
    cut = LONG_LANDING[: LANDING_LENGTH - 1] + "…"  # as long as the field, and visibly cut
    assert (lead["rs_landing_page"], task["rs_landing_page"]) == (cut, cut)
