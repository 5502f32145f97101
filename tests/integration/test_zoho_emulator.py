"""Zoho emulator: token flow, record inserts, COQL and users (in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from emulators.zoho import ZohoState, create_app, transport


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ZohoState(clock=clock))
    async with httpx.AsyncClient(transport=transport(app), base_url="https://zoho.test") as c:
        token = await c.post(
            "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "id",
                "client_secret": "secret",
                "refresh_token": "rt",
            },
        )
        c.headers["Authorization"] = f"Zoho-oauthtoken {token.json()['access_token']}"
        yield c


@pytest.mark.anyio
async def test_insert_mixed_batch_answers_207_in_input_order(client: httpx.AsyncClient) -> None:
    body = {
        "data": [
            {"Last_Name": "+380501234567", "Phone": "+380501234567", "rs_sync_key": "c1/lead"},
            {"Phone": "+380501234568"},
            {"Last_Name": "dup", "rs_sync_key": "c1/lead"},
        ]
    }
    response = await client.post("/crm/v8/Leads", json=body)
    assert response.status_code == 207
    codes = [item["code"] for item in response.json()["data"]]
    assert codes == ["SUCCESS", "MANDATORY_NOT_FOUND", "DUPLICATE_DATA"]
    first_id = response.json()["data"][0]["details"]["id"]
    assert response.json()["data"][2]["details"]["duplicate_record"]["id"] == first_id


@pytest.mark.anyio
async def test_coql_finds_inserted_lead_by_phone_suffix(client: httpx.AsyncClient) -> None:
    await client.post(
        "/crm/v8/Leads", json={"data": [{"Last_Name": "A", "Phone": "+380501234567"}]}
    )
    response = await client.post(
        "/crm/v8/coql",
        json={"select_query": "select Phone, Owner from Leads where Phone like '%501234567'"},
    )
    assert response.status_code == 200
    row = response.json()["data"][0]
    assert row["Phone"] == "+380501234567"
    assert set(row["Owner"]) == {"id"}


@pytest.mark.anyio
async def test_users_lists_the_default_admin(client: httpx.AsyncClient) -> None:
    response = await client.get("/crm/v8/users", params={"type": "ActiveUsers"})
    assert response.status_code == 200
    users = response.json()["users"]
    assert [u["role"]["name"] for u in users] == ["CEO"]
