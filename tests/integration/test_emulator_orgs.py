"""Many orgs and projects on one emulator each, picked by credentials as the vendors do: a Zoho
org by its OAuth client and refresh token, a Ringostat project by its Auth-key."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from emulators.ringostat.app import create_app as create_ringostat
from tests.support.zoho_harness import FakeClock, client_for, make_app, yield_sleep

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(clock: FakeClock) -> FastAPI:
    return make_app(clock, sleep=yield_sleep)


async def org(http: httpx.AsyncClient, name: str, *, valid: str | None = None) -> None:
    """Create org ``name``: client ``cid-<name>``, refresh token ``rt-<name>`` (or ``valid``)."""
    (await http.post(f"/__emulator__/orgs/{name}/reset")).raise_for_status()
    oauth = {"client_ids": [f"cid-{name}"], "refresh_tokens": [valid or f"rt-{name}"]}
    answer = await http.post(f"/__emulator__/orgs/{name}/seed", json={"oauth": oauth})
    answer.raise_for_status()


async def token(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    answer = await http.post(
        "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": f"cid-{name}",
            "client_secret": "s",
            "refresh_token": f"rt-{name}",
        },
    )
    body: dict[str, str] = answer.json()
    return body


async def test_credentials_pick_the_org_and_its_records(app: FastAPI) -> None:
    async with client_for(app) as http:
        for name in ("acme", "globex"):
            await org(http, name)
        headers = {}
        for name in ("acme", "globex"):
            access = (await token(http, name))["access_token"]
            headers[name] = {"Authorization": f"Zoho-oauthtoken {access}"}
        lead = {"data": [{"Last_Name": "Acme lead", "Phone": "+380501112233"}]}
        assert (await http.post("/crm/v8/Leads", json=lead, headers=headers["acme"])).is_success
        acme = (await http.get("/__emulator__/orgs/acme/dump")).json()
        globex = (await http.get("/__emulator__/orgs/globex/dump")).json()
        default = (await http.get("/__emulator__/dump")).json()
        assert [r["Last_Name"] for r in acme["Leads"]] == ["Acme lead"]
        assert globex["Leads"] == [] and default["Leads"] == []
        orgs = (await http.get("/__emulator__/orgs")).json()["orgs"]
        assert orgs["acme"]["requests"] == 1 and orgs["globex"]["requests"] == 0


async def test_a_revoked_refresh_token_and_spent_credits_hit_one_org_only(app: FastAPI) -> None:
    async with client_for(app) as http:
        await org(http, "revoked", valid="rt-the-new-one")
        await org(http, "spent")
        await org(http, "fine")
        assert (await token(http, "revoked")) == {"error": "invalid_code"}
        await http.put("/__emulator__/orgs/spent/faults", json={"credit_budget": 0})
        for name, status in (("spent", 429), ("fine", 200)):
            access = (await token(http, name))["access_token"]
            answer = await http.get(
                "/crm/v8/users", headers={"Authorization": f"Zoho-oauthtoken {access}"}
            )
            assert answer.status_code == status, (name, answer.text)


async def test_an_unknown_client_is_the_default_org() -> None:
    clock = FakeClock()
    app = make_app(clock, sleep=yield_sleep)
    async with client_for(app) as http:
        access = (await token(http, "nobody"))["access_token"]
        answer = await http.get(
            "/crm/v8/users", headers={"Authorization": f"Zoho-oauthtoken {access}"}
        )
        assert answer.status_code == 200
        routes = (await http.get("/__emulator__/stats")).json()["by_route"]
        assert routes["GET /crm/v8/users"]["requests"] == 1


async def test_the_auth_key_picks_the_ringostat_project() -> None:
    app = create_ringostat(auth_key="default-key")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ringostat") as http:
        for name in ("acme", "globex"):
            answer = await http.post(
                f"/__emulator__/projects/{name}/reset", json={"auth_key": f"key-{name}"}
            )
            answer.raise_for_status()
            row = {"uniqueid": f"{name}-1", "calldate": "2026-03-02 10:00:00", "caller": "1"}
            await http.post(f"/__emulator__/projects/{name}/calls", json=[row])
        window = {"from": "2026-03-02 00:00:00", "to": "2026-03-02 23:59:59"}
        for key, ids in (
            ("key-acme", ["acme-1"]),
            ("key-globex", ["globex-1"]),
            ("default-key", []),
        ):
            answer = await http.get("/calls/list", params=window, headers={"Auth-key": key})
            assert [r["uniqueid"] for r in answer.json()] == ids
        unknown = await http.get("/calls/list", params=window, headers={"Auth-key": "nope"})
        assert unknown.status_code == 401
        stats = (await http.get("/__emulator__/projects/acme/stats")).json()
        assert stats == {"requests": 1, "calls": 1}
