"""A spent 24-hour credit budget is its own error, told apart from too many requests in flight."""

from __future__ import annotations

import httpx
import pytest
from test_zoho_client import error, make

from tasks.zoho.client import LONE_429_LIMIT
from tasks.zoho.errors import CreditsExhausted, RetriableError, classify, is_credit_message


def _429(message: str) -> httpx.Response:
    return httpx.Response(
        429,
        json={"code": "TOO_MANY_REQUESTS", "details": {}, "message": message, "status": "error"},
    )


@pytest.mark.parametrize(
    ("message", "spent"),
    [
        ("too many requests continuously", False),
        ("You have exceeded the concurrency limit", False),
        ("API credit limit of the last 24 hours exceeded", True),
        ("API credits exhausted", True),
        ("Daily API limit reached", True),
    ],
)
def test_classify_tells_the_credit_budget_by_its_message(message: str, spent: bool) -> None:
    err = classify(_429(message))
    assert is_credit_message(message) is spent
    assert isinstance(err, CreditsExhausted if spent else RetriableError)
    assert not (spent and isinstance(err, RetriableError))  # never retried as transient


@pytest.mark.anyio
async def test_a_credit_429_stops_the_client_at_once_and_for_good() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return _429("API credit limit of the last 24 hours exceeded")

    client, fake, sleeps = make(crm, max_retries=8)
    with pytest.raises(CreditsExhausted):
        await client.roles()
    assert len(fake.requests) == 1 and sleeps.delays == []
    with pytest.raises(CreditsExhausted):  # nothing more is sent
        await client.insert("Leads", [{"Last_Name": "x", "rs_sync_key": "a/lead"}])
    assert len(fake.requests) == 1


@pytest.mark.anyio
async def test_a_429_that_persists_with_one_request_in_flight_is_a_spent_budget() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json=error("TOO_MANY_REQUESTS"))

    client, fake, _ = make(crm, max_retries=8)
    with pytest.raises(CreditsExhausted, match="single request in flight"):
        await client.roles()
    assert len(fake.requests) == LONE_429_LIMIT


@pytest.mark.anyio
async def test_429s_that_stop_persisting_are_concurrency_and_retried() -> None:
    answers = [429, 429, 200, 429, 429, 200]

    async def crm(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        if status == 200:
            return httpx.Response(200, json={"roles": []})
        return httpx.Response(429, json=error("TOO_MANY_REQUESTS"))

    client, fake, _ = make(crm, max_retries=8)
    assert await client.roles() == []
    assert await client.roles() == []
    assert client.exhausted is None and len(fake.requests) == 6
