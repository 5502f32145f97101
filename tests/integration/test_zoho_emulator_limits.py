"""Zoho emulator: credits, concurrency, injected faults and lost responses (also over TCP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from fastapi import FastAPI

from emulators.zoho import ZohoState
from tests.support.zoho_harness import (
    FakeClock,
    GatedSleep,
    client_for,
    login,
    make_app,
    served,
    yield_sleep,
)
from tests.support.zoho_oas import validating_hook

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(clock: FakeClock) -> FastAPI:
    return make_app(clock, sleep=yield_sleep)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        await login(client)
        yield client


async def stats(http: httpx.AsyncClient) -> dict[str, object]:
    body = (await http.get("/__emulator__/stats")).json()
    assert isinstance(body, dict)
    return body


# -- credits -------------------------------------------------------------------------------------


async def test_credits_per_route(http: httpx.AsyncClient) -> None:
    await http.post("/crm/v8/Tasks", json={"data": [{"Subject": f"t{i}"} for i in range(25)]})
    await http.post("/crm/v8/Tasks", json={"data": [{"Subject": f"u{i}"} for i in range(100)]})
    await http.post("/crm/v8/Leads", json={"data": [{"Last_Name": "x", "Email": "a@b.com"}]})
    await http.post(
        "/crm/v8/Leads/upsert", json={"data": [{"Last_Name": "y", "Email": "a@b.com"}] * 11}
    )
    for limit in (200, 201, 1000, 1001, 2000):
        await http.post(
            "/crm/v8/coql", json={"select_query": f"select id from Tasks limit {limit}"}
        )
    await http.post("/crm/v8/coql", json={"select_query": "select id from Tasks"})
    await http.get("/crm/v8/Tasks", params={"fields": "Subject"})
    await http.get("/crm/v8/users")
    await http.get("/crm/v8/users", headers={"Authorization": "Zoho-oauthtoken wrong"})
    body = await stats(http)
    assert body["by_route"] == {
        "POST /oauth/v2/token": {"requests": 1, "credits": 0},
        "POST /crm/v8/{module}": {"requests": 3, "credits": 3 + 10 + 1},
        "POST /crm/v8/{module}/upsert": {"requests": 1, "credits": 2},
        "POST /crm/v8/coql": {"requests": 6, "credits": 1 + 2 + 2 + 3 + 3 + 1},
        "GET /crm/v8/{module}": {"requests": 1, "credits": 1},
        "GET /crm/v8/users": {"requests": 2, "credits": 1},  # the 401 costs nothing
    }
    assert body["requests"] == 14
    assert body["credits"] == 14 + 2 + 12 + 1 + 1
    assert body["max_in_flight"] == 1


async def test_credit_budget_is_a_rolling_24_hours(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await http.put("/__emulator__/faults", json={"credit_budget": 3, "token_ttl_s": 10**6})
    await login(http)  # a token that outlives the day
    for _ in range(3):
        assert (await http.get("/crm/v8/users")).status_code == 200
    clock.advance(hours=23)
    refused = await http.get("/crm/v8/users")
    assert refused.status_code == 429
    assert refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert "retry-after" not in refused.headers
    clock.advance(hours=1)
    assert (await http.get("/crm/v8/users")).status_code == 200


# -- concurrency ---------------------------------------------------------------------------------


async def test_requests_over_the_concurrency_limit_get_429(clock: FakeClock) -> None:
    gate = GatedSleep()
    app = make_app(clock, sleep=gate)
    async with client_for(app) as http:
        await login(http)
        await http.put("/__emulator__/faults", json={"concurrency_limit": 3, "latency_ms": 50})
        tasks = [asyncio.create_task(http.get("/crm/v8/users")) for _ in range(5)]
        with anyio.fail_after(5):  # a guard against a hang, not a timing check
            while len(gate.calls) < 3 or sum(t.done() for t in tasks) < 2:
                await anyio.sleep(0)
        early = [t.result() for t in tasks if t.done()]
        assert [r.status_code for r in early] == [429, 429]
        assert early[0].json() == {
            "code": "TOO_MANY_REQUESTS",
            "details": {},
            "message": early[0].json()["message"],
            "status": "error",
        }
        assert "retry-after" not in early[0].headers
        gate.open()
        everyone = await asyncio.gather(*tasks)
        assert sorted(r.status_code for r in everyone) == [200, 200, 200, 429, 429]
        assert gate.calls == [0.05, 0.05, 0.05]  # latency went through the injected sleep
        body = await stats(http)
        assert body["max_in_flight"] == 4  # three parked plus each rejected one in turn
        state = app.state.zoho
        assert isinstance(state, ZohoState)
        assert state.stats.in_flight == 0


async def test_max_in_flight_tracks_concurrent_requests(clock: FakeClock) -> None:
    gate = GatedSleep()
    app = make_app(clock, sleep=gate)
    async with client_for(app) as http:
        await login(http)
        await http.put("/__emulator__/faults", json={"latency_ms": 1})
        tasks = [asyncio.create_task(http.get("/crm/v8/users")) for _ in range(4)]
        with anyio.fail_after(5):
            while len(gate.calls) < 4:
                await anyio.sleep(0)
        gate.open()
        assert {r.status_code for r in await asyncio.gather(*tasks)} == {200}
        assert (await stats(http))["max_in_flight"] == 4


# -- injected faults -----------------------------------------------------------------------------


async def fault_run(seed: int, clock: FakeClock) -> list[int]:
    app = make_app(clock, sleep=yield_sleep)
    async with client_for(app) as http:
        await login(http)
        await http.put(
            "/__emulator__/faults", json={"seed": seed, "rate_429": 0.3, "rate_5xx": 0.3}
        )
        return [(await http.get("/crm/v8/users")).status_code for _ in range(30)]


async def test_faults_are_deterministic_under_a_seed(clock: FakeClock) -> None:
    first = await fault_run(1, clock)
    assert first == await fault_run(1, clock)
    assert {200, 429, 500} <= set(first)
    assert first != await fault_run(2, clock)


async def test_injected_5xx_body(http: httpx.AsyncClient) -> None:
    await http.put("/__emulator__/faults", json={"rate_5xx": 1.0})
    response = await http.post("/crm/v8/Leads", json={"data": [{"Last_Name": "x"}]})
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    await http.put("/__emulator__/faults", json={"rate_5xx": 0.0})
    assert (await http.get("/__emulator__/dump")).json()["Leads"] == []  # nothing was written
    assert (await stats(http))["credits"] == 0


async def test_faults_spare_the_token_endpoint(http: httpx.AsyncClient) -> None:
    await http.put("/__emulator__/faults", json={"rate_5xx": 1.0, "rate_429": 1.0})
    assert (
        "access_token"
        in (
            await http.post(
                "/oauth/v2/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": "c",
                    "client_secret": "s",
                    "refresh_token": "r",
                },
            )
        ).json()
    )


# -- lost responses ------------------------------------------------------------------------------


async def test_lost_response_applies_the_write_then_drops_the_answer(
    http: httpx.AsyncClient,
) -> None:
    await http.put("/__emulator__/faults", json={"lost_response_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(
            "/crm/v8/Tasks", json={"data": [{"Subject": "s", "rs_sync_key": "c1/task"}]}
        )
    with pytest.raises(httpx.TransportError):  # also for an answer without a body
        await http.post("/crm/v8/coql", json={"select_query": "select id from Leads"})
    await http.put("/__emulator__/faults", json={"lost_response_rate": 0.0})
    dump = (await http.get("/__emulator__/dump")).json()
    assert [t["rs_sync_key"] for t in dump["Tasks"]] == ["c1/task"]
    retry = await http.post(
        "/crm/v8/Tasks", json={"data": [{"Subject": "s", "rs_sync_key": "c1/task"}]}
    )
    assert retry.json()["data"][0]["code"] == "DUPLICATE_DATA"
    assert retry.json()["data"][0]["details"]["duplicate_record"]["id"] == dump["Tasks"][0]["id"]


async def test_lost_response_over_real_tcp(clock: FakeClock) -> None:
    app = make_app(clock, sleep=yield_sleep)
    async with (
        served(app) as base_url,
        httpx.AsyncClient(base_url=base_url, event_hooks={"response": [validating_hook]}) as http,
    ):
        token = (
            await http.post(
                "/oauth/v2/token",
                params={
                    "grant_type": "refresh_token",
                    "client_id": "c",
                    "client_secret": "s",
                    "refresh_token": "r",
                },
            )
        ).json()
        assert token["api_domain"] == base_url
        http.headers["Authorization"] = f"Zoho-oauthtoken {token['access_token']}"
        await http.put("/__emulator__/faults", json={"lost_response_rate": 1.0})
        with pytest.raises(httpx.TransportError) as caught:
            await http.post("/crm/v8/Leads", json={"data": [{"Last_Name": "over tcp"}]})
        assert isinstance(caught.value, httpx.RemoteProtocolError)
        await http.put("/__emulator__/faults", json={"lost_response_rate": 0.0})
        found = await http.post(
            "/crm/v8/coql",
            json={"select_query": "select Last_Name from Leads where Last_Name = 'over tcp'"},
        )
        assert found.status_code == 200
        assert (await http.get("/__emulator__/stats")).json()["by_route"][
            "POST /crm/v8/{module}"
        ] == {
            "requests": 1,
            "credits": 1,
        }
