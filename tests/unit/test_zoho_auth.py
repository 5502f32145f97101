"""OAuth: token caching, expiry units, one shared refresh, clear failures, no secret leaks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from models.settings import ZohoSettings
from tasks.zoho.auth import ZohoAuth, data_centre
from tasks.zoho.client import ZohoClient
from tasks.zoho.errors import AuthError

SECRET = "1000.refresh-secret-value"
T0 = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _settings(**kw: Any) -> ZohoSettings:
    base: dict[str, Any] = {
        "client_id": "1000.CLIENT",
        "client_secret": "client-secret-value",
        "refresh_token": SECRET,
        "accounts_url": "https://accounts.zoho.eu",
        "api_domain": "https://www.zohoapis.eu",
    }
    return ZohoSettings(**(base | kw))


class FakeOrg:
    """Token endpoint + one CRM route; accepts only the latest minted token."""

    def __init__(self, token_answers: list[dict[str, Any]] | None = None) -> None:
        self.token_answers = token_answers
        self.minted = 0
        self.valid: set[str] = set()
        self.token_forms: list[dict[str, str]] = []
        self.crm_hosts: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let concurrent requests interleave
        if request.url.path == "/oauth/v2/token":
            self.token_forms.append(dict(httpx.QueryParams(request.content.decode())))
            self.minted += 1
            if self.token_answers:
                return httpx.Response(200, json=self.token_answers.pop(0))
            token = f"access-{self.minted}"
            self.valid = {token}
            return httpx.Response(200, json={"access_token": token, "expires_in": 3600})
        self.crm_hosts.append(request.url.host)
        token = request.headers["Authorization"].removeprefix("Zoho-oauthtoken ")
        if token not in self.valid:
            body = {
                "code": "INVALID_TOKEN",
                "details": {},
                "message": "invalid oauth token",
                "status": "error",
            }
            return httpx.Response(401, json=body)
        return httpx.Response(200, json={"roles": [{"id": "1", "name": "CEO"}]})


def _client(org: FakeOrg, clock: Clock | None = None, **kw: Any) -> ZohoClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(org))
    return ZohoClient(_settings(**kw), http, clock=clock or Clock(), sleep=_no_sleep)


async def _no_sleep(_: float) -> None:
    return None


@pytest.mark.anyio
async def test_token_is_cached_and_refresh_form_is_the_refresh_grant() -> None:
    org = FakeOrg()
    client = _client(org)
    await client.roles()
    await client.roles()
    assert org.minted == 1
    assert org.token_forms[0] == {
        "grant_type": "refresh_token",
        "client_id": "1000.CLIENT",
        "client_secret": "client-secret-value",
        "refresh_token": SECRET,
    }


@pytest.mark.anyio
async def test_token_refreshed_shortly_before_expiry() -> None:
    org, clock = FakeOrg(), Clock()
    client = _client(org, clock)
    await client.roles()
    clock.now += timedelta(seconds=3600 - 301)
    await client.roles()
    assert org.minted == 1
    clock.now += timedelta(seconds=2)  # inside the last 5 minutes: refresh before sending
    await client.roles()
    assert org.minted == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "lifetime_s"),
    [
        ({"access_token": "a", "expires_in": 3600}, 3600),
        ({"access_token": "a", "expires_in": 3_600_000, "expires_in_sec": 3600}, 3600),
        ({"access_token": "a", "expires_in": 600}, 600),
        ({"access_token": "a"}, 3600),
    ],
)
async def test_expiry_units(answer: dict[str, Any], lifetime_s: int) -> None:
    clock = Clock()
    http = httpx.AsyncClient(transport=httpx.MockTransport(FakeOrg([answer])))
    token = await ZohoAuth(_settings(), http, clock=clock).token()
    early = min(300, lifetime_s / 10)
    assert token.expires_at == T0 + timedelta(seconds=lifetime_s - early)


@pytest.mark.anyio
async def test_api_domain_from_token_answer_wins() -> None:
    org = FakeOrg(
        [{"access_token": "access-x", "expires_in": 3600, "api_domain": "https://www.zohoapis.com"}]
    )
    org.valid = {"access-x"}
    client = _client(org)
    await client.roles()
    assert org.crm_hosts == ["www.zohoapis.com"]
    assert client.api_domain == "https://www.zohoapis.com"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "status", "must_say"),
    [
        ({"error": "invalid_code"}, 200, "CALLSYNC_ZOHO__REFRESH_TOKEN"),
        ({"error": "invalid_client"}, 200, "zoho.client_id"),
        (
            {
                "error": "Access Denied",
                "error_description": "You have made too many requests continuously.",
            },
            400,
            "10 access tokens per 10 minutes",
        ),
        ({"token_type": "Bearer"}, 200, "zoho.refresh_token"),
    ],
)
async def test_refused_refresh_token_is_a_clear_auth_error(
    answer: dict[str, Any], status: int, must_say: str
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=answer)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = ZohoClient(_settings(), http, clock=Clock(), sleep=_no_sleep)
    with pytest.raises(AuthError) as info:
        await client.roles()
    message = str(info.value)
    assert must_say in message
    assert "EU (zoho.eu)" in message
    assert SECRET not in message and "client-secret-value" not in message
    assert client.token_requests == 1  # a refused grant is not retried
    assert client.stats.requests == 0


@pytest.mark.anyio
async def test_401_refreshes_once_then_retries() -> None:
    org = FakeOrg()
    client = _client(org)
    await client.roles()
    org.valid = set()  # Zoho dropped the access token before its expiry
    assert await client.roles() == [{"id": "1", "name": "CEO"}]
    assert org.minted == 2
    assert client.stats.requests == 3


@pytest.mark.anyio
async def test_second_401_after_refresh_is_fatal() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token":
            return httpx.Response(200, json={"access_token": "never-good", "expires_in": 3600})
        return httpx.Response(
            401, json={"code": "AUTHENTICATION_FAILURE", "message": "x", "status": "error"}
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = ZohoClient(_settings(), http, clock=Clock(), sleep=_no_sleep)
    with pytest.raises(AuthError, match="freshly minted"):
        await client.roles()
    assert client.token_requests == 2
    assert client.stats.requests == 2


@pytest.mark.anyio
async def test_concurrent_401s_share_one_refresh() -> None:
    org = FakeOrg()
    client = _client(org, max_concurrency=5)
    await client.roles()
    org.valid = set()

    # every request now fails with the old token; the first refresh makes "access-2" valid
    results = await asyncio.gather(*(client.roles() for _ in range(10)))
    assert all(r == [{"id": "1", "name": "CEO"}] for r in results)
    assert org.minted == 2


def test_secrets_never_in_repr() -> None:
    client = _client(FakeOrg())
    settings = _settings()
    for text in (repr(client), repr(client._auth), repr(settings)):
        assert SECRET not in text and "client-secret-value" not in text


@pytest.mark.parametrize(
    ("url", "dc"),
    [
        ("https://accounts.zoho.eu", "EU (zoho.eu)"),
        ("https://www.zohoapis.com", "US (zoho.com)"),
        ("https://accounts.zoho.com.au", "Australia (zoho.com.au)"),
        ("https://www.zohoapis.in", "India (zoho.in)"),
        ("https://accounts.zohocloud.ca", "Canada (zohocloud.ca)"),
        ("https://www.zohoapis.jp", "Japan (zoho.jp)"),
        ("http://127.0.0.1:8000", "not a Zoho host (127.0.0.1)"),
    ],
)
def test_data_centre(url: str, dc: str) -> None:
    assert data_centre(url) == dc
