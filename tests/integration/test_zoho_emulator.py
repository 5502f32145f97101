"""Zoho emulator: OAuth, the token check, users/roles/fields, and the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from emulators.demo_data import generate_demo
from emulators.zoho import ZohoState, create_app
from tests.support.zoho_harness import REFRESH_FORM, FakeClock, client_for, login

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


# -- OAuth -------------------------------------------------------------------------------------


async def test_refresh_grant_answers_token_with_own_api_domain(http: httpx.AsyncClient) -> None:
    response = await http.post("/oauth/v2/token", data=REFRESH_FORM)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "api_domain", "token_type"}
    assert body["expires_in"] == 3600
    assert body["api_domain"] == "https://zoho.test"
    assert body["token_type"] == "Bearer"


async def test_refresh_grant_also_accepts_query_string(http: httpx.AsyncClient) -> None:
    response = await http.post("/oauth/v2/token", params=REFRESH_FORM)
    assert "access_token" in response.json()


async def test_unknown_refresh_token_answers_200_invalid_code(http: httpx.AsyncClient) -> None:
    await http.post("/__emulator__/seed", json={"oauth": {"refresh_tokens": ["1000.good"]}})
    bad = await http.post("/oauth/v2/token", data={**REFRESH_FORM, "refresh_token": "1000.bad"})
    assert (bad.status_code, bad.json()) == (200, {"error": "invalid_code"})
    good = await http.post("/oauth/v2/token", data={**REFRESH_FORM, "refresh_token": "1000.good"})
    assert "access_token" in good.json()


async def test_a_self_client_grant_code_is_exchanged_once_for_a_refresh_token(
    http: httpx.AsyncClient,
) -> None:
    await http.post("/__emulator__/seed", json={"oauth": {"refresh_tokens": ["1000.good"]}})
    form = {"grant_type": "authorization_code", "client_id": "1000.c", "client_secret": "s"}
    answer = (await http.post("/oauth/v2/token", data={**form, "code": "1000.grant"})).json()
    assert set(answer) == {
        "access_token",
        "refresh_token",
        "api_domain",
        "token_type",
        "expires_in",
    }
    again = await http.post("/oauth/v2/token", data={**form, "code": "1000.grant"})
    assert again.json() == {"error": "invalid_code"}  # a grant code works once
    refreshed = await http.post(
        "/oauth/v2/token", data={**REFRESH_FORM, "refresh_token": answer["refresh_token"]}
    )
    assert "access_token" in refreshed.json()  # the new refresh token is accepted


async def test_empty_refresh_token_is_invalid_code(http: httpx.AsyncClient) -> None:
    response = await http.post("/oauth/v2/token", data={**REFRESH_FORM, "refresh_token": ""})
    assert response.json() == {"error": "invalid_code"}


async def test_eleventh_token_in_ten_minutes_is_access_denied(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    for _ in range(10):
        assert "access_token" in (await http.post("/oauth/v2/token", data=REFRESH_FORM)).json()
    denied = await http.post("/oauth/v2/token", data=REFRESH_FORM)
    assert denied.status_code == 400
    assert denied.json() == {
        "error": "Access Denied",
        "error_description": "You have made too many requests continuously. "
        "Please try again after some time.",
    }
    other = await http.post("/oauth/v2/token", data={**REFRESH_FORM, "refresh_token": "other"})
    assert "access_token" in other.json()  # the limit is per refresh token
    clock.advance(minutes=10)
    assert "access_token" in (await http.post("/oauth/v2/token", data=REFRESH_FORM)).json()


async def test_crm_call_without_or_with_unknown_token_is_401(http: httpx.AsyncClient) -> None:
    expected = {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    missing = await http.get("/crm/v8/users")
    assert (missing.status_code, missing.json()) == (401, expected)
    unknown = await http.get("/crm/v8/users", headers={"Authorization": "Zoho-oauthtoken nope"})
    assert (unknown.status_code, unknown.json()) == (401, expected)


async def test_token_expires_after_token_ttl_by_the_clock(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await http.put("/__emulator__/faults", json={"token_ttl_s": 60})
    await login(http)
    assert (await http.get("/crm/v8/users")).status_code == 200
    clock.advance(seconds=59)
    assert (await http.get("/crm/v8/users")).status_code == 200
    clock.advance(seconds=1)
    expired = await http.get("/crm/v8/users")
    assert expired.status_code == 401
    assert expired.json()["code"] == "INVALID_TOKEN"
    await login(http)
    assert (await http.get("/crm/v8/users")).status_code == 200


async def test_bearer_scheme_is_not_zoho_oauthtoken(http: httpx.AsyncClient) -> None:
    token = await login(http)
    response = await http.get("/crm/v8/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# -- users, roles, fields ----------------------------------------------------------------------

SEED_ORG = {
    "roles": [
        {"id": "111", "name": "CEO", "reporting_to": None},
        {"id": "222", "name": "Sales Manager", "reporting_to": {"id": "111", "name": "CEO"}},
    ],
    "users": [
        {
            "id": "9001",
            "first_name": "Anna",
            "last_name": "Ivanova",
            "email": "anna@example.com",
            "phone": "+380501112233",
            "role": {"name": "Sales Manager", "id": "222"},
            "status": "active",
            "Reporting_To": {"id": "9003"},
        },
        {
            "id": "9002",
            "first_name": "Petro",
            "last_name": "Gone",
            "email": "petro@example.com",
            "role": {"name": "Sales Manager", "id": "222"},
            "status": "disabled",
        },
        {
            "id": "9003",
            "first_name": "Olga",
            "last_name": "Boss",
            "email": "boss@example.com",
            "role": {"name": "CEO", "id": "111"},
        },
    ],
}


async def test_users_by_type(http: httpx.AsyncClient) -> None:
    await http.post("/__emulator__/seed", json=SEED_ORG)
    await login(http)
    active = await http.get("/crm/v8/users", params={"type": "ActiveUsers"})
    everyone = await http.get("/crm/v8/users", params={"type": "AllUsers"})
    assert {u["id"] for u in active.json()["users"]} == {
        "9001",
        "9003",
        active.json()["users"][0]["id"],
    }
    assert "9002" not in {u["id"] for u in active.json()["users"]}
    assert {"9001", "9002", "9003"} <= {u["id"] for u in everyone.json()["users"]}
    anna = next(u for u in everyone.json()["users"] if u["id"] == "9001")
    assert anna["full_name"] == "Anna Ivanova"
    assert anna["role"] == {"name": "Sales Manager", "id": "222"}
    assert anna["status"] == "active"
    assert anna["Reporting_To"] == {"name": "Olga Boss", "id": "9003"}
    assert set(anna["profile"]) == {"name", "id"}
    assert anna["phone"] == "+380501112233"
    assert isinstance(anna["time_zone"], str)
    petro = next(u for u in everyone.json()["users"] if u["id"] == "9002")
    assert petro["status"] == "disabled"
    info = everyone.json()["info"]
    assert info == {"per_page": 200, "count": 4, "page": 1, "more_records": False}


async def test_users_paging_and_bad_type(http: httpx.AsyncClient) -> None:
    await http.post("/__emulator__/seed", json=SEED_ORG)
    await login(http)
    first = await http.get("/crm/v8/users", params={"per_page": 3})
    assert first.json()["info"]["more_records"] is True
    second = await http.get("/crm/v8/users", params={"per_page": 3, "page": 2})
    assert second.json()["info"] == {"per_page": 3, "count": 1, "page": 2, "more_records": False}
    bad = await http.get("/crm/v8/users", params={"type": "Everyone"})
    assert bad.status_code == 400


async def test_roles_top_role_reports_to_nobody(http: httpx.AsyncClient) -> None:
    await http.post("/__emulator__/seed", json=SEED_ORG)
    await login(http)
    roles = {r["id"]: r for r in (await http.get("/crm/v8/settings/roles")).json()["roles"]}
    assert roles["111"]["reporting_to"] is None
    assert roles["222"]["reporting_to"] == {"id": "111", "name": "CEO"}


async def test_fields_describe_custom_unique_key_and_picklists(http: httpx.AsyncClient) -> None:
    await login(http)
    tasks = (await http.get("/crm/v8/settings/fields", params={"module": "Tasks"})).json()
    by_name = {f["api_name"]: f for f in tasks["fields"]}
    assert by_name["rs_sync_key"]["unique"] == {"casesensitive": "false"}  # a string (OAS, SDK)
    assert by_name["rs_sync_key"]["custom_field"] is True
    assert by_name["Subject"]["unique"] is None
    assert by_name["Subject"]["system_mandatory"] is True
    statuses = [v["actual_value"] for v in by_name["Status"]["pick_list_values"]]
    assert "Completed" in statuses and "Not Started" in statuses
    leads = (await http.get("/crm/v8/settings/fields", params={"module": "Leads"})).json()
    lead_fields = {f["api_name"]: f for f in leads["fields"]}
    for name in (
        "rs_utm_source",
        "rs_utm_medium",
        "rs_utm_campaign",
        "rs_utm_term",
        "rs_utm_content",
        "rs_google_client_id",
        "rs_sync_key",
    ):
        assert lead_fields[name]["data_type"] == "text"
        assert lead_fields[name]["length"] == 255
    assert lead_fields["Phone"]["data_type"] == "phone"
    assert lead_fields["Phone"]["length"] == 30
    contacts = (await http.get("/crm/v8/settings/fields", params={"module": "Contacts"})).json()
    assert "rs_sync_key" not in {f["api_name"] for f in contacts["fields"]}
    assert "rs_utm_source" in {f["api_name"] for f in contacts["fields"]}


async def test_fields_needs_a_known_module(http: httpx.AsyncClient) -> None:
    await login(http)
    missing = await http.get("/crm/v8/settings/fields")
    assert (missing.status_code, missing.json()["code"]) == (400, "REQUIRED_PARAM_MISSING")
    unknown = await http.get("/crm/v8/settings/fields", params={"module": "Nope"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "INVALID_MODULE")


# -- admin API ---------------------------------------------------------------------------------


async def test_seed_dump_and_reset(http: httpx.AsyncClient, app: FastAPI) -> None:
    seeded = await http.post(
        "/__emulator__/seed",
        json={
            **SEED_ORG,
            "Leads": [
                {
                    "Last_Name": "Lead One",
                    "Phone": "+380501234567",
                    "Owner": {"id": "9001"},
                    "Modified_Time": "2026-01-01T09:00:00+02:00",
                },
                {"id": "777", "Last_Name": "Lead Two", "Owner": {"id": "9001"}},
            ],
            "Contacts": [{"Last_Name": "C", "Mobile": "0501234567"}],
            "Deals": [{"Deal_Name": "D", "Stage": "Qualification", "Contact_Name": {"id": "1"}}],
        },
    )
    assert seeded.status_code == 200
    assert seeded.json()["ids"]["Leads"][1] == "777"
    dump = (await http.get("/__emulator__/dump")).json()
    assert set(dump) == {"Leads", "Contacts", "Deals", "Tasks", "Calls"}
    assert [lead["Last_Name"] for lead in dump["Leads"]] == ["Lead One", "Lead Two"]
    lead = dump["Leads"][0]
    assert lead["Owner"] == {"name": "Anna Ivanova", "id": "9001", "email": "anna@example.com"}
    assert lead["Modified_Time"] == "2026-01-01T09:00:00+02:00"
    assert lead["id"].isdigit() and len(lead["id"]) == 19
    assert dump["Tasks"] == [] and dump["Calls"] == []
    await login(http)
    got = await http.get(f"/crm/v8/Leads/{lead['id']}")
    assert got.json()["data"][0] == lead  # dump shows records as GET does
    assert (await http.post("/__emulator__/reset")).status_code == 200
    after = (await http.get("/__emulator__/dump")).json()
    assert after == {"Leads": [], "Contacts": [], "Deals": [], "Tasks": [], "Calls": []}
    assert (await http.get("/crm/v8/users")).status_code == 401  # tokens went with the reset
    state = app.state.zoho
    assert isinstance(state, ZohoState)
    assert [u["role"]["name"] for u in state.users.values()] == ["CEO"]


async def test_seed_rejects_unknown_keys(http: httpx.AsyncClient) -> None:
    response = await http.post("/__emulator__/seed", json={"Widgets": []})
    assert response.status_code == 422


async def test_faults_merge_and_validate(http: httpx.AsyncClient) -> None:
    first = await http.put("/__emulator__/faults", json={"rate_429": 0.5})
    assert first.json() == {
        "seed": None,
        "latency_ms": 0,
        "rate_429": 0.5,
        "rate_5xx": 0.0,
        "lost_response_rate": 0.0,
        "concurrency_limit": 10,
        "token_ttl_s": 3600,
        "credit_budget": None,
    }
    second = await http.put("/__emulator__/faults", json={"seed": 7, "credit_budget": 100})
    assert second.json()["rate_429"] == 0.5
    assert second.json()["credit_budget"] == 100
    assert (await http.put("/__emulator__/faults", json={"rate_5xx": 2})).status_code == 422
    assert (await http.put("/__emulator__/faults", json={"typo": 1})).status_code == 422


async def test_admin_calls_are_not_counted(http: httpx.AsyncClient) -> None:
    await http.post("/__emulator__/reset")
    await http.get("/__emulator__/dump")
    stats = (await http.get("/__emulator__/stats")).json()
    assert stats == {"requests": 0, "credits": 0, "by_route": {}, "max_in_flight": 0}


async def test_unknown_url_answers_zoho_shape(http: httpx.AsyncClient) -> None:
    await login(http)
    response = await http.get("/crm/v8/Leads/1/a/b/c")
    assert response.status_code == 404
    assert response.json()["code"] == "INVALID_URL_PATTERN"


async def test_api_resources_it_lacks_are_404_but_unknown_modules_are_400(
    http: httpx.AsyncClient,
) -> None:
    await login(http)
    for method, path in (
        ("GET", "/crm/v8/settings/layouts"),
        ("GET", "/crm/v8/settings/nope/1"),
        ("GET", "/crm/v8/__features"),
        ("POST", "/crm/v8/__composite_requests"),
        ("GET", "/crm/v8/files"),
    ):
        response = await http.request(method, path)
        assert (response.status_code, response.json()["code"]) == (404, "INVALID_URL_PATTERN")
    for method, path in (
        ("GET", "/crm/v8/Widgets?fields=Name"),
        ("GET", "/crm/v8/Widgets/123"),
        ("POST", "/crm/v8/Widgets"),
        ("GET", "/crm/v8/Widgets/search?word=x"),
    ):
        response = await http.request(method, path)
        assert response.status_code == 400
        assert response.json() == {
            "code": "INVALID_MODULE",
            "details": {"resource_path_index": 0},
            "message": "The module name given seems to be invalid",
            "status": "error",
        }


async def test_org_answers_zoho_shape(http: httpx.AsyncClient) -> None:
    await login(http)
    response = await http.get("/crm/v8/org")  # the client's hook validates against org.json
    assert response.status_code == 200
    [org] = response.json()["org"]
    assert org["time_zone"] == "Europe/Kyiv"
    assert org["primary_email"] == "admin@callsync-demo.com"
    assert org["zgid"].isdigit()


async def test_settings_modules_list_and_one(http: httpx.AsyncClient) -> None:
    await login(http)
    listed = (await http.get("/crm/v8/settings/modules")).json()["modules"]
    assert {m["api_name"] for m in listed} == {
        "Leads",
        "Contacts",
        "Deals",
        "Tasks",
        "Calls",
        "Accounts",
    }
    assert all(m["api_supported"] and m["generated_type"] == "default" for m in listed)
    assert all(m["fields"] == [] for m in listed)
    one = (await http.get("/crm/v8/settings/modules/Leads")).json()["modules"]
    assert [m["api_name"] for m in one] == ["Leads"]
    assert "rs_sync_key" in {f["api_name"] for f in one[0]["fields"]}
    assert one[0]["convertable"] is True
    since = {"If-Modified-Since": "2026-01-18T12:00:00+02:00"}
    assert (await http.get("/crm/v8/settings/modules", headers=since)).status_code == 304
    unknown = await http.get("/crm/v8/settings/modules/Widgets")
    assert (unknown.status_code, unknown.json()["code"]) == (400, "INVALID_MODULE")


async def test_the_demo_org_has_one_top_role(http: httpx.AsyncClient) -> None:
    demo = generate_demo()
    assert (await http.post("/__emulator__/seed", json=demo.zoho_seed)).status_code == 200
    await login(http)
    roles = (await http.get("/crm/v8/settings/roles")).json()["roles"]
    assert [r["name"] for r in roles if r["reporting_to"] is None] == ["CEO"]
    users = (await http.get("/crm/v8/users", params={"type": "ActiveUsers"})).json()["users"]
    top = [u for u in users if u["email"] == demo.top_manager]
    assert [u["role"]["name"] for u in top] == ["CEO"]


async def test_create_app_accepts_a_given_state() -> None:
    clock = FakeClock()
    state = ZohoState(clock=clock)
    app = create_app(state)
    assert app.state.zoho is state
