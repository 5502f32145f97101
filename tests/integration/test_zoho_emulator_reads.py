"""Zoho emulator: listing (paging, page_token, If-Modified-Since), get, and search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.zoho_harness import FakeClock, client_for, ids, login

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        await login(client)
        yield client


async def seed_leads(http: httpx.AsyncClient, count: int, **extra: Any) -> list[str]:
    rows = [
        {"Last_Name": f"Lead {i:05d}", "Phone": f"+38050{i:07d}", **extra} for i in range(count)
    ]
    response = await http.post("/__emulator__/seed", json={"Leads": rows})
    return list(response.json()["ids"]["Leads"])


# -- list ----------------------------------------------------------------------------------------


async def test_list_requires_fields(http: httpx.AsyncClient) -> None:
    response = await http.get("/crm/v8/Leads")
    assert response.status_code == 400
    assert response.json()["code"] == "REQUIRED_PARAM_MISSING"
    unknown = await http.get("/crm/v8/Leads", params={"fields": "Last_Name,Nope"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "INVALID_DATA")
    too_many = await http.get("/crm/v8/Leads", params={"fields": "Last_Name", "per_page": 201})
    assert too_many.status_code == 400
    bad_sort = await http.get("/crm/v8/Leads", params={"fields": "Last_Name", "sort_by": "Phone"})
    assert bad_sort.status_code == 400


async def test_list_gives_only_the_asked_fields_and_info(http: httpx.AsyncClient) -> None:
    created = await seed_leads(http, 3)
    response = await http.get(
        "/crm/v8/Leads",
        params={"fields": "Last_Name,Owner", "sort_by": "id", "sort_order": "asc", "per_page": 2},
    )
    body = response.json()
    assert [r["id"] for r in body["data"]] == created[:2]
    assert set(body["data"][0]) == {"id", "Last_Name", "Owner"}
    assert set(body["data"][0]["Owner"]) == {"name", "id", "email"}
    info = body["info"]
    assert {
        k: info[k] for k in ("per_page", "count", "page", "sort_by", "sort_order", "more_records")
    } == {
        "per_page": 2,
        "count": 2,
        "page": 1,
        "sort_by": "id",
        "sort_order": "asc",
        "more_records": True,
    }
    assert isinstance(info["next_page_token"], str)
    assert info["previous_page_token"] is None
    assert info["page_token_expiry"] == "2026-01-19T12:00:00+02:00"
    desc = await http.get("/crm/v8/Leads", params={"fields": "Last_Name"})
    assert [r["id"] for r in desc.json()["data"]] == created[::-1]  # default: id, desc


async def test_empty_module_lists_204(http: httpx.AsyncClient) -> None:
    assert (await http.get("/crm/v8/Deals", params={"fields": "Deal_Name"})).status_code == 204


async def test_paging_past_2000_needs_page_token(http: httpx.AsyncClient) -> None:
    created = await seed_leads(http, 2100)
    params: dict[str, Any] = {
        "fields": "Last_Name",
        "sort_by": "id",
        "sort_order": "asc",
        "per_page": 200,
    }
    seen: list[str] = []
    token = None
    for page in range(1, 11):
        body = (await http.get("/crm/v8/Leads", params={**params, "page": page})).json()
        assert body["info"]["page"] == page
        seen += [r["id"] for r in body["data"]]
        token = body["info"]["next_page_token"]
    blocked = await http.get("/crm/v8/Leads", params={**params, "page": 11})
    assert blocked.status_code == 400
    assert blocked.json()["code"] == "LIMIT_EXCEEDED"
    last = (await http.get("/crm/v8/Leads", params={**params, "page_token": token})).json()
    seen += [r["id"] for r in last["data"]]
    assert last["info"]["page"] == 11
    assert last["info"]["more_records"] is False
    assert last["info"]["next_page_token"] is None
    assert isinstance(last["info"]["previous_page_token"], str)
    assert seen == created


async def test_page_token_belongs_to_its_query_and_expires(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await seed_leads(http, 3)
    params = {"fields": "Last_Name", "per_page": 1, "sort_by": "id"}
    token = (await http.get("/crm/v8/Leads", params=params)).json()["info"]["next_page_token"]
    other_query = await http.get(
        "/crm/v8/Leads", params={**params, "sort_by": "Created_Time", "page_token": token}
    )
    assert other_query.status_code == 400
    assert (
        await http.get("/crm/v8/Leads", params={**params, "page_token": "forged"})
    ).status_code == 400
    clock.advance(days=1)
    await login(http)
    expired = await http.get("/crm/v8/Leads", params={**params, "page_token": token})
    assert expired.status_code == 400


async def test_if_modified_since_filters_and_answers_304(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await seed_leads(http, 2, Modified_Time="2026-01-01T00:00:00+00:00")
    new = ids(await http.post("/crm/v8/Leads", json={"data": [{"Last_Name": "new"}]}))
    params = {"fields": "Last_Name,Modified_Time", "sort_by": "Modified_Time", "sort_order": "asc"}
    newer = await http.get(
        "/crm/v8/Leads", params=params, headers={"If-Modified-Since": "2026-01-10T00:00:00+02:00"}
    )
    assert [r["id"] for r in newer.json()["data"]] == new
    assert newer.json()["data"][0]["Modified_Time"] == "2026-01-18T12:00:00+02:00"
    none = await http.get(
        "/crm/v8/Leads", params=params, headers={"If-Modified-Since": "2026-01-18T10:00:00+00:00"}
    )
    assert none.status_code == 304
    assert none.content == b""
    everything = await http.get(
        "/crm/v8/Leads", params=params, headers={"If-Modified-Since": "2025-12-31T00:00:00+00:00"}
    )
    assert len(everything.json()["data"]) == 3
    clock.advance(minutes=1)
    await http.put("/crm/v8/Leads", json={"data": [{"id": new[0], "Description": "touched"}]})
    touched = await http.get(
        "/crm/v8/Leads", params=params, headers={"If-Modified-Since": "2026-01-18T10:00:00+00:00"}
    )
    assert [r["id"] for r in touched.json()["data"]] == new


async def test_converted_leads_are_left_out_unless_asked(http: httpx.AsyncClient) -> None:
    await http.post(
        "/__emulator__/seed",
        json={"Leads": [{"Last_Name": "open"}, {"Last_Name": "done", "Converted__s": True}]},
    )
    default = await http.get("/crm/v8/Leads", params={"fields": "Last_Name"})
    assert [r["Last_Name"] for r in default.json()["data"]] == ["open"]
    both = await http.get("/crm/v8/Leads", params={"fields": "Last_Name", "converted": "both"})
    assert len(both.json()["data"]) == 2
    only = await http.get("/crm/v8/Leads", params={"fields": "Last_Name", "converted": "true"})
    assert [r["Last_Name"] for r in only.json()["data"]] == ["done"]


async def test_get_one_and_missing(http: httpx.AsyncClient) -> None:
    [lead_id] = await seed_leads(http, 1)
    full = (await http.get(f"/crm/v8/Leads/{lead_id}")).json()["data"][0]
    assert {"rs_sync_key", "rs_utm_source", "Created_By", "Modified_By", "Converted__s"} <= set(
        full
    )
    assert full["Full_Name"] == "Lead 00000"
    some = (await http.get(f"/crm/v8/Leads/{lead_id}", params={"fields": "Phone"})).json()["data"][
        0
    ]
    assert some == {"id": lead_id, "Phone": "+380500000000"}
    assert (await http.get("/crm/v8/Leads/1")).status_code == 204
    unknown_module = await http.get(f"/crm/v8/Widgets/{lead_id}")
    assert unknown_module.json()["code"] == "INVALID_MODULE"


# -- search --------------------------------------------------------------------------------------


@pytest.fixture
async def people(http: httpx.AsyncClient) -> list[str]:
    response = await http.post(
        "/__emulator__/seed",
        json={
            "Contacts": [
                {
                    "First_Name": "Ivan",
                    "Last_Name": "Burns",
                    "Phone": "+380 50 123 4567",
                    "Email": "ivan@x.com",
                    "Created_Time": "2026-01-01T00:00:00+00:00",
                },
                {
                    "First_Name": "Olga",
                    "Last_Name": "Bond",
                    "Mobile": "(067) 765-43-21",
                    "Created_Time": "2026-01-05T00:00:00+00:00",
                },
                {
                    "First_Name": "Petro",
                    "Last_Name": "Smith",
                    "Other_Phone": "0441112233",
                    "Created_Time": "2026-01-10T00:00:00+00:00",
                },
            ]
        },
    )
    return list(response.json()["ids"]["Contacts"])


async def search(http: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await http.get("/crm/v8/Contacts/search", params=params)


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200
    return [r["Last_Name"] for r in response.json()["data"]]


async def test_search_criteria_operators(http: httpx.AsyncClient, people: list[str]) -> None:
    assert names(await search(http, criteria="(Last_Name:equals:burns)")) == ["Burns"]
    assert names(await search(http, criteria="(Last_Name:starts_with:B)")) == ["Burns", "Bond"]
    assert names(await search(http, criteria="(Last_Name:in:Smith,Bond)")) == ["Bond", "Smith"]
    assert names(await search(http, criteria="(Last_Name:not_equal:Bond)")) == ["Burns", "Smith"]
    assert names(
        await search(http, criteria="(Created_Time:greater_than:2026-01-04T00:00:00+00:00)")
    ) == ["Bond", "Smith"]
    assert names(
        await search(
            http,
            criteria="(Created_Time:between:2026-01-02T00:00:00+00:00,2026-01-06T00:00:00+00:00)",
        )
    ) == ["Bond"]
    assert names(
        await search(http, criteria="((Last_Name:starts_with:B)and(First_Name:equals:Olga))")
    ) == ["Bond"]
    assert names(
        await search(http, criteria="((Last_Name:equals:Smith)or(First_Name:equals:Ivan))")
    ) == ["Burns", "Smith"]
    assert names(await search(http, criteria="(Phone:starts_with:+380 50)")) == ["Burns"]


async def test_search_has_no_ends_with(http: httpx.AsyncClient, people: list[str]) -> None:
    response = await search(http, criteria="(Phone:ends_with:4567)")
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_QUERY"
    assert response.json()["details"]["operator"] == "ends_with"


async def test_search_by_email_phone_word(http: httpx.AsyncClient, people: list[str]) -> None:
    assert names(await search(http, email="IVAN@x.com")) == ["Burns"]
    assert names(await search(http, phone="0677654321")) == ["Bond"]
    assert names(await search(http, phone="+380501234567")) == ["Burns"]
    assert names(await search(http, phone="+380 (50) 123-45-67")) == ["Burns"]
    assert names(await search(http, word="smi")) == ["Smith"]


async def test_phone_search_matches_a_whole_number_not_a_fragment(
    http: httpx.AsyncClient, people: list[str]
) -> None:
    for fragment in ("501234567", "1234567", "4567", "765-43"):
        assert (await search(http, phone=fragment)).status_code == 204


async def test_search_no_hit_is_204_with_empty_body(
    http: httpx.AsyncClient, people: list[str]
) -> None:
    response = await search(http, criteria="(Last_Name:equals:Nobody)")
    assert response.status_code == 204
    assert response.content == b""


async def test_search_needs_exactly_one_kind(http: httpx.AsyncClient, people: list[str]) -> None:
    assert (await search(http)).status_code == 400
    assert (await search(http, email="a@b.c", word="x")).status_code == 400


async def test_search_paging_limits(http: httpx.AsyncClient) -> None:
    await http.post(
        "/__emulator__/seed", json={"Contacts": [{"Last_Name": f"Same {i}"} for i in range(250)]}
    )
    first = await search(http, word="same", per_page="200")
    assert first.json()["info"] == {"per_page": 200, "count": 200, "page": 1, "more_records": True}
    second = await search(http, word="same", per_page="200", page="2")
    assert second.json()["info"]["count"] == 50
    assert (await search(http, word="same", per_page="201")).status_code == 400
    beyond = await search(http, word="same", per_page="200", page="11")
    assert (beyond.status_code, beyond.json()["code"]) == (400, "LIMIT_EXCEEDED")


# -- date-times ----------------------------------------------------------------------------------


async def test_date_times_come_back_in_the_current_users_time_zone(
    http: httpx.AsyncClient,
) -> None:
    """Seeded with any offset or written through the API: one offset, the user's (Kyiv, +02:00)."""
    [seeded] = await seed_leads(http, 1, Created_Time="2026-01-10T09:00:00+05:30")
    created = await http.post(
        "/crm/v8/Calls",
        json={
            "data": [
                {
                    "Subject": "c",
                    "Call_Type": "Inbound",
                    "Call_Start_Time": "2026-01-18T08:00:00+00:00",
                    "Call_Duration": "01:00",
                }
            ]
        },
    )
    details = created.json()["data"][0]["details"]
    assert details["Created_Time"] == "2026-01-18T12:00:00+02:00"  # the clock is 10:00 UTC
    lead = (await http.get(f"/crm/v8/Leads/{seeded}")).json()["data"][0]
    assert (lead["Created_Time"], lead["Modified_Time"]) == (
        "2026-01-10T05:30:00+02:00",
        "2026-01-10T05:30:00+02:00",
    )
    call = (await http.get(f"/crm/v8/Calls/{details['id']}")).json()["data"][0]
    assert call["Call_Start_Time"] == "2026-01-18T10:00:00+02:00"
    assert call["Created_Time"] == "2026-01-18T12:00:00+02:00"
    rows = await http.post(
        "/crm/v8/coql",
        json={
            "select_query": "select Call_Start_Time, Created_Time from Calls where id is not null"
        },
    )
    [row] = rows.json()["data"]
    assert (row["Call_Start_Time"], row["Created_Time"]) == (
        "2026-01-18T10:00:00+02:00",
        "2026-01-18T12:00:00+02:00",
    )


async def test_a_user_in_another_time_zone_reads_times_in_it(http: httpx.AsyncClient) -> None:
    [seeded] = await seed_leads(http, 1, Created_Time="2026-01-10T09:00:00+02:00")
    admin = (await http.get("/crm/v8/users", params={"type": "CurrentUser"})).json()["users"][0]
    await http.post("/__emulator__/seed", json={"users": [{**admin, "time_zone": "Asia/Kolkata"}]})
    lead = (await http.get(f"/crm/v8/Leads/{seeded}")).json()["data"][0]
    assert lead["Created_Time"] == "2026-01-10T12:30:00+05:30"
