"""Zoho emulator: COQL — operators, Zoho's parentheses rule, limits and paging, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.zoho_harness import FakeClock, client_for, login, make_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = make_app(FakeClock())
    async with client_for(app) as client:
        await client.post(
            "/__emulator__/seed",
            json={
                "users": [
                    {
                        "id": "9001",
                        "first_name": "Anna",
                        "last_name": "I",
                        "email": "anna@example.com",
                    }
                ],
                "Leads": [
                    {
                        "id": "1001",
                        "Last_Name": "Alpha",
                        "Phone": "+380501234567",
                        "Owner": {"id": "9001"},
                        "rs_utm_source": "google",
                        "Modified_Time": "2026-01-01T10:00:00+00:00",
                    },
                    {
                        "id": "1002",
                        "Last_Name": "Beta",
                        "Phone": "+380671234567",
                        "Mobile": "0501234567",
                        "Modified_Time": "2026-01-02T10:00:00+00:00",
                    },
                    {
                        "id": "1003",
                        "Last_Name": "Gamma",
                        "Phone": "+48661234567",
                        "Converted__s": True,
                        "rs_utm_source": "facebook",
                        "Modified_Time": "2026-01-03T10:00:00+00:00",
                    },
                    {
                        "id": "1004",
                        "Last_Name": "Delta",
                        "Modified_Time": "2026-01-04T10:00:00+00:00",
                    },
                ],
            },
        )
        await login(client)
        yield client


async def coql(http: httpx.AsyncClient, query: str) -> httpx.Response:
    return await http.post("/crm/v8/coql", json={"select_query": query})


async def ids_of(http: httpx.AsyncClient, where: str, order: str = "order by id asc") -> list[str]:
    response = await coql(http, f"select Last_Name from Leads where {where} {order} limit 200")
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Phone = '+380501234567'", ["1001"]),
        ("Last_Name = 'alpha'", ["1001"]),
        ("Last_Name != 'Alpha'", ["1002", "1003", "1004"]),
        ("Phone != '+380501234567'", ["1002", "1003"]),  # a null never compares
        ("Phone like '%1234567'", ["1001", "1002", "1003"]),
        ("Phone like '+380%'", ["1001", "1002"]),
        ("Phone like '%067%'", ["1002"]),
        ("Mobile like '%1234567'", ["1002"]),
        ("Phone in ('+380501234567', '+48661234567')", ["1001", "1003"]),
        ("Phone not in ('+380501234567')", ["1002", "1003"]),
        ("Phone is null", ["1004"]),
        ("Phone is not null", ["1001", "1002", "1003"]),
        ("Converted__s = false", ["1001", "1002", "1004"]),
        ("Converted__s = 'true'", ["1003"]),
        ("Owner = '9001'", ["1001"]),
        ("Owner.email = 'anna@example.com'", ["1001"]),
        ("Modified_Time > '2026-01-02T10:00:00+00:00'", ["1003", "1004"]),
        ("Modified_Time >= '2026-01-02T12:00:00+02:00'", ["1002", "1003", "1004"]),
        ("Modified_Time < '2026-01-02T10:00:00+00:00'", ["1001"]),
        ("Modified_Time <= '2026-01-02T10:00:00+00:00'", ["1001", "1002"]),
        (
            "Modified_Time between '2026-01-02T00:00:00+00:00' and '2026-01-03T23:00:00+00:00'",
            ["1002", "1003"],
        ),
        ("id = 1004", ["1004"]),
        ("(Phone like '%1234567' and Converted__s = false)", ["1001", "1002"]),
        ("Phone like '%1234567' or rs_utm_source = 'facebook'", ["1001", "1002", "1003"]),
        (
            "((Phone like '%1234567' and Converted__s = false) and rs_utm_source = 'google')",
            ["1001"],
        ),
        ("(Last_Name = 'Delta' or (Phone like '+380%' and Mobile is not null))", ["1002", "1004"]),
    ],
)
async def test_where_operators(http: httpx.AsyncClient, where: str, expected: list[str]) -> None:
    assert await ids_of(http, where) == expected


async def test_rows_hold_selected_fields_with_lookups_as_ids(http: httpx.AsyncClient) -> None:
    response = await coql(
        http, "select Phone, Owner, Modified_Time, Owner.email from Leads where id = 1001"
    )
    assert response.json() == {
        "data": [
            {
                "Phone": "+380501234567",
                "Owner": {"id": "9001"},
                "Modified_Time": "2026-01-01T12:00:00+02:00",
                "Owner.email": "anna@example.com",
                "id": "1001",
            }
        ],
        "info": {"count": 1, "more_records": False},
    }


async def test_order_by_and_nulls(http: httpx.AsyncClient) -> None:
    assert await ids_of(http, "id is not null", "order by Modified_Time desc") == [
        "1004",
        "1003",
        "1002",
        "1001",
    ]
    assert await ids_of(http, "id is not null", "order by Phone asc") == [
        "1001",
        "1002",
        "1003",
        "1004",
    ]


async def test_three_conditions_need_pairwise_parentheses(http: httpx.AsyncClient) -> None:
    response = await coql(
        http, "select id from Leads where Phone is not null and Last_Name = 'Alpha' and id = 1001"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "SYNTAX_ERROR"
    assert body["details"]["near"] == "and"
    mixed = await coql(http, "select id from Leads where (Phone is null or id = 1 or id = 2)")
    assert mixed.json()["code"] == "SYNTAX_ERROR"


async def test_nothing_matches_is_204(http: httpx.AsyncClient) -> None:
    response = await coql(http, "select id from Leads where Phone = '+10000000000'")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    "query",
    [
        "select from Leads",
        "select * from Leads",
        "selec id from Leads",
        "select id Leads",
        "select id from Leads where Phone = '+380",
        "select id from Leads where Phone ==",
        "select id from Leads where Phone like 5",
        "select id from Leads limit ten",
        "select id from Leads where (Phone is null",
        "select id from Leads extra",
    ],
)
async def test_syntax_errors(http: httpx.AsyncClient, query: str) -> None:
    response = await coql(http, query)
    assert response.status_code == 400
    assert response.json()["code"] == "SYNTAX_ERROR"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("select Nope from Leads", "INVALID_QUERY"),
        ("select id from Widgets", "INVALID_QUERY"),
        ("select id from Leads where Nope = 1", "INVALID_QUERY"),
        ("select id from Leads where Modified_Time > 'yesterday'", "INVALID_QUERY"),
        ("select id from Leads limit 2001", "LIMIT_EXCEEDED"),
        ("select id from Leads limit 98001, 2000", "LIMIT_EXCEEDED"),
        ("select id from Leads limit 200 offset 99801", "LIMIT_EXCEEDED"),
    ],
)
async def test_query_errors(http: httpx.AsyncClient, query: str, code: str) -> None:
    response = await coql(http, query)
    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_in_takes_at_most_50_values(http: httpx.AsyncClient) -> None:
    values = ", ".join(f"'{i}'" for i in range(51))
    response = await coql(http, f"select id from Leads where Phone in ({values})")
    assert (response.status_code, response.json()["code"]) == (400, "LIMIT_EXCEEDED")
    fifty = ", ".join(f"'{i}'" for i in range(50))
    assert (await coql(http, f"select id from Leads where Phone in ({fifty})")).status_code == 204


async def test_missing_query_is_an_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/crm/v8/coql", json={})
    assert response.status_code == 400


async def test_paging_past_2000_rows_with_offset(http: httpx.AsyncClient) -> None:
    rows: list[dict[str, Any]] = [
        {"Last_Name": f"L{i}", "Phone": f"+38099{i:07d}"} for i in range(2500)
    ]
    await http.post("/__emulator__/seed", json={"Leads": rows})
    base = "select Phone from Leads where Phone like '+38099%' order by Phone asc"
    first = (await coql(http, f"{base} limit 2000")).json()
    assert first["info"] == {"count": 2000, "more_records": True}
    second = (await coql(http, f"{base} limit 2000, 2000")).json()
    assert second["info"] == {"count": 500, "more_records": False}
    same = (await coql(http, f"{base} limit 2000 offset 2000")).json()
    assert same == second
    phones = [r["Phone"] for r in first["data"] + second["data"]]
    assert phones == sorted(r["Phone"] for r in rows) == sorted(set(phones))
    default = (await coql(http, base)).json()
    assert default["info"] == {"count": 200, "more_records": True}  # default limit is 200


async def test_long_ids_compare_exactly(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/crm/v8/Leads", json={"data": [{"Last_Name": "a"}, {"Last_Name": "b"}]}
    )
    first, second = (item["details"]["id"] for item in created.json()["data"])
    assert len(first) == 19  # beyond float precision: compared as Decimal
    assert await ids_of(http, f"id = {first}") == [first]
    assert await ids_of(http, f"id = '{second}'") == [second]
    assert await ids_of(http, f"id in ({first}, 1001)") == ["1001", first]
