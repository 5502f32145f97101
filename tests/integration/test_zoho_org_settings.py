"""Org settings through the Zoho emulator: closed Deal stages and business hours.

Every answer is checked against Zoho's OpenAPI files (the harness's validating client), and
the client's readings feed the planner exactly as a run will: the closed stages into the CRM
snapshot, the business hours into the deadlines.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from models.crm import ZOHO_DEFAULT_CLOSED_STAGES
from models.hours import WorkingHours
from models.settings import Settings, ZohoSettings
from tasks.calls import parse_row
from tasks.employees import EmployeeMap
from tasks.pipeline import StoredCrm
from tasks.pipeline.crm import load_people, refresh_index
from tasks.scenario import plan_calls
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tests.support.zoho_harness import BASE_URL, FakeClock, client_for, yield_sleep

pytestmark = pytest.mark.anyio

KYIV = ZoneInfo("Europe/Kyiv")
SETTINGS = Settings(scenario={"top_manager": "admin@callsync-demo.com"})
NOW = datetime(2026, 1, 19, 12, 0, tzinfo=KYIV)


@dataclass
class Org:
    http: httpx.AsyncClient
    client: ZohoClient
    clock: FakeClock
    settings: ZohoSettings

    def client_with(self, *, cache: Store) -> ZohoClient:
        """Another client of the same org (a later run), keeping its metadata in ``cache``."""
        return ZohoClient(
            self.settings,
            self.http,
            sleep=yield_sleep,
            clock=self.clock,
            rng=random.Random(0),
            cache=cache,
        )

    async def seed(self, body: dict[str, Any]) -> dict[str, list[str]]:
        response = await self.http.post("/__emulator__/seed", json=body)
        assert response.status_code == 200, response.text
        ids: dict[str, list[str]] = response.json()["ids"]
        return ids


@pytest.fixture
async def org(app: FastAPI, clock: FakeClock) -> AsyncIterator[Org]:
    async with client_for(app) as http:
        settings = ZohoSettings(
            accounts_url=BASE_URL,
            api_domain=BASE_URL,
            client_id=SecretStr("1000.client"),
            client_secret=SecretStr("secret"),
            refresh_token=SecretStr("1000.refresh"),
            max_retries=1,
        )
        client = ZohoClient(settings, http, sleep=yield_sleep, clock=clock, rng=random.Random(0))
        yield Org(http, client, clock, settings)


# -- closed Deal stages ------------------------------------------------------------------------


async def test_default_stages_carry_their_deal_category(org: Org) -> None:
    fields = await org.client.fields("Deals")  # validated against fields.json on the way
    (stage,) = [f for f in fields if f["api_name"] == "Stage"]
    by_name = {v["display_value"]: v for v in stage["pick_list_values"]}
    lost = by_name["Closed-Lost to Competition"]
    assert (lost["actual_value"], lost["forecast_type"]) == (
        "Closed Lost to Competition",
        "Closed Lost",
    )
    assert lost["forecast_category"]["name"] == "Omitted"
    assert by_name["Closed Won"]["forecast_category"]["name"] == "Closed"
    assert by_name["Identify Decision Makers"]["actual_value"] == "Id. Decision Makers"
    assert {v["forecast_type"] for v in stage["pick_list_values"]} == {
        "Open",
        "Closed Won",
        "Closed Lost",
    }
    assert await org.client.deal_closed_stages() == ZOHO_DEFAULT_CLOSED_STAGES


async def test_custom_closed_stages_come_from_the_metadata(org: Org) -> None:
    await org.seed(
        {
            "deal_stages": [
                {"display_value": "Lost - no budget", "forecast_type": "Closed Lost"},
                {"display_value": "Paid in advance", "forecast_type": "Closed Won"},
                {"display_value": "Trial running"},  # open
            ]
        }
    )
    closed = await org.client.deal_closed_stages()
    assert closed == ZOHO_DEFAULT_CLOSED_STAGES | {"Lost - no budget", "Paid in advance"}
    # the new stages are real picklist values: a deal can be written with them
    contact = (await org.seed({"Contacts": [{"Last_Name": "C", "Phone": "+380501112233"}]}))[
        "Contacts"
    ][0]
    results = await org.client.insert(
        "Deals",
        [
            {"Deal_Name": "D", "Stage": "Lost - no budget", "Contact_Name": {"id": contact}},
            {"Deal_Name": "E", "Stage": "No such stage", "Contact_Name": {"id": contact}},
        ],
    )
    assert [r.ok for r in results] == [True, False]


async def test_a_lost_deal_is_not_where_the_call_goes(org: Org) -> None:
    # was: a deal in "Closed-Lost to Competition" (or a custom lost stage) counted as open, the
    # call attached to it and its owner got the task
    await org.seed({"deal_stages": [{"display_value": "Lost - no budget", "forecast_type": "Closed Lost"}]})  # fmt: skip
    ids = await org.seed({"Contacts": [{"Last_Name": "C", "Phone": "+380501112233"}]})
    contact = ids["Contacts"][0]
    deals = await org.seed(
        {
            "Deals": [
                {"Deal_Name": f"D{i}", "Stage": stage, "Contact_Name": {"id": contact}}
                for i, stage in enumerate(
                    ["Closed-Lost to Competition", "Closed Lost to Competition", "Lost - no budget"]
                )
            ]
        }
    )
    with Store("sqlite://") as store:
        people = await load_people(org.client, store, SETTINGS)
        await refresh_index(org.client, store, SETTINGS, people)
        crm = StoredCrm(store, people).snapshot(["501112233"])
    users = list(people.users)
    row = {
        "uniqueid": "c1",
        "calldate": "2026-01-18 10:00:00",
        "call_type": "in",
        "disposition": "NO ANSWER",
        "caller": "+380501112233",
        "duration": 0,
    }
    call = parse_row(row, SETTINGS)
    employees = EmployeeMap.build((), users, SETTINGS.scenario)
    (plan,) = plan_calls([call], crm, employees, SETTINGS, now=NOW)
    assert plan.attachment is not None
    assert (plan.attachment.module, plan.attachment.id) == ("Contacts", contact)
    assert len(deals["Deals"]) == 3 and not any(crm.is_open_deal(d) for d in crm.records)


# -- business hours ----------------------------------------------------------------------------


async def test_no_business_hours_is_24x7(org: Org) -> None:
    response = await org.http.get(
        "/crm/v8/settings/business_hours", headers=await _auth(org.client)
    )
    assert response.status_code == 204 and response.content == b""
    assert await org.client.business_hours() == WorkingHours.always()


@pytest.mark.parametrize(
    ("seeded", "expected"),
    [
        (
            {
                "type": "custom",
                "business_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                "same_as_everyday": True,
                "daily_timing": ["09:00", "18:00"],
            },
            WorkingHours.weekly(("mon", "tue", "wed", "thu", "fri"), 540, 1080, source="zoho"),
        ),
        (
            {
                "type": "custom",
                "business_days": ["Monday", "Saturday"],
                "same_as_everyday": False,
                "daily_timing": ["09:00", "18:00"],
                "custom_timing": [
                    {"days": "Monday", "business_timing": ["08:00", "12:00", "13:00", "17:00"]},
                    {"days": "Saturday", "business_timing": ["10:00", "14:00"]},
                ],
            },
            WorkingHours(
                week=(((480, 720), (780, 1020)), (), (), (), (), ((600, 840),), ()),
                source="zoho",
            ),
        ),
        (
            {"type": "24_by_5", "business_days": ["Monday", "Tuesday"]},
            WorkingHours(week=(((0, 1440),), ((0, 1440),), (), (), (), (), ()), source="zoho"),
        ),
        ({"type": "24_by_7"}, WorkingHours.always()),
    ],
)
async def test_business_hours_as_zoho_answers_them(
    org: Org, seeded: dict[str, Any], expected: WorkingHours
) -> None:
    await org.seed({"business_hours": seeded})
    response = await org.http.get(
        "/crm/v8/settings/business_hours", headers=await _auth(org.client)
    )
    assert response.status_code == 200  # and the body fits business_hours.json
    assert set(response.json()["business_hours"]) >= {"type", "business_days", "daily_timing"}
    assert await org.client.business_hours() == expected


async def test_zohos_hours_make_the_deadline(org: Org) -> None:
    # Friday 19:30, Mon–Fri 09:00–18:00 in Zoho: the call-back is due Monday 13:00
    await org.seed(
        {
            "business_hours": {
                "type": "custom",
                "business_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                "daily_timing": ["09:00", "18:00"],
            },
            "Leads": [{"Last_Name": "L", "Phone": "+380671112233"}],
        }
    )
    with Store("sqlite://") as store:
        people = await load_people(org.client, store, SETTINGS)
        await refresh_index(org.client, store, SETTINGS, people)
        crm = StoredCrm(store, people).snapshot(["671112233"])
    hours, users = people.hours, list(people.users)
    row = {
        "uniqueid": "c1",
        "calldate": "2026-01-16 19:30:00",
        "call_type": "in",
        "disposition": "NO ANSWER",
        "caller": "+380671112233",
        "duration": 0,
    }
    call = parse_row(row, SETTINGS)
    employees = EmployeeMap.build((), users, SETTINGS.scenario)
    (plan,) = plan_calls([call], crm, employees, SETTINGS, now=NOW, hours=hours)
    (task,) = plan.writes
    assert task.due_at == datetime(2026, 1, 19, 13, 0, tzinfo=KYIV)
    assert task.fields["Remind_At"]["ALARM"].endswith("TRIGGER=DATE-TIME:2026-01-19T13:00:00+02:00")
    # the task Zoho accepts as planned (Due_Date, Remind_At)
    (result,) = await org.client.insert("Tasks", [dict(task.fields)])
    assert result.ok, result


async def test_bad_seeds_are_refused(org: Org) -> None:
    for body in (
        {"deal_stages": [{"display_value": "X", "forecast_type": "Maybe"}]},
        {"deal_stages": [{}]},
        {"business_hours": {"type": "sometimes"}},
    ):
        response = await org.http.post("/__emulator__/seed", json=body)
        assert response.status_code == 422, body
    await org.seed({"business_hours": {"type": "24_by_5", "business_days": ["Monday"]}})
    await org.seed({"business_hours": None})  # removed again: none configured
    assert await org.client.business_hours() == WorkingHours.always()


async def _auth(client: ZohoClient) -> dict[str, str]:
    token = await client.access_token()
    return {"Authorization": f"Zoho-oauthtoken {token.value}"}


async def test_org_metadata_is_kept_in_the_store_between_runs(org: Org) -> None:
    """Fields metadata and business hours are read once an hour, not once a run: a second
    client (the next run) over the same store asks Zoho for neither."""
    with Store("sqlite://", clock=org.clock) as store:
        first = org.client_with(cache=store)
        await first.deal_closed_stages()
        await first.business_hours()
        await first.text_limits("Leads")
        second = org.client_with(cache=store)
        await second.deal_closed_stages()
        await second.business_hours()
        await second.text_limits("Leads")
        assert "GET /crm/v8/settings/fields" not in second.stats.by_route
        assert "GET /crm/v8/settings/business_hours" not in second.stats.by_route
        org.clock.now += timedelta(hours=1)
        third = org.client_with(cache=store)
        await third.deal_closed_stages()
        assert third.stats.by_route["GET /crm/v8/settings/fields"] == 1
