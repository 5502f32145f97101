"""``run_doctor`` against the Zoho emulator: a ready org, and each gap with its fix."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from emulators.zoho import ZohoState, create_app, transport
from models.settings import Settings
from tasks.zoho.doctor import DoctorReport, run_doctor

pytestmark = pytest.mark.anyio

BASE = "https://zoho.test"
ADMIN = "admin@callsync-demo.com"


def settings(**scenario: Any) -> Settings:
    zoho = {
        "accounts_url": BASE,
        "api_domain": BASE,
        "client_id": "1000.client",
        "client_secret": "secret",
        "refresh_token": "1000.refresh",
        "max_retries": 1,
    }
    return Settings(zoho=zoho, scenario={"top_manager": ADMIN} | scenario)  # type: ignore[arg-type]


async def _no_sleep(_: float) -> None:
    return None


def _now() -> datetime:
    return datetime(2026, 1, 18, 10, 0, tzinfo=UTC)


@pytest.fixture
def state() -> ZohoState:
    return ZohoState(clock=_now)


@pytest.fixture
async def http(state: ZohoState) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport(create_app(state)), base_url=BASE) as client:
        yield client


async def doctor(http: httpx.AsyncClient, **scenario: Any) -> DoctorReport:
    return await run_doctor(settings(**scenario), http, sleep=_no_sleep, clock=_now)


def failed(report: DoctorReport) -> dict[str, str]:
    return {c.name: c.fix for c in report.checks if not c.ok}


async def test_a_ready_org_passes_every_check(http: httpx.AsyncClient) -> None:
    report = await doctor(http, log_calls=True, mode="enrich_contacts_deals")
    assert failed(report) == {}
    assert report.ok
    names = [c.name for c in report.checks]
    assert names == [
        "access token", "users readable", "TOP manager", "employee map", "roles readable",
        "fields on Leads", "fields on Contacts", "fields on Tasks", "fields on Calls",
        "fields on Deals", "Leads readable", "Contacts readable", "Deals readable",
        "phone values on Leads", "phone values on Contacts", "COQL",
    ]  # fmt: skip
    text = report.render()
    # The org's only user is the TOP manager and there are no [[employees]]: ready, but said.
    assert text.splitlines()[-1] == "16 of 16 checks passed: ready (1 warning)"
    assert "[warn] employee map: no [[employees]] entries" in text
    assert "Org Admin <admin@callsync-demo.com>" in text
    assert "1000.refresh" not in text and "secret" not in text


async def test_inactive_top_manager(http: httpx.AsyncClient) -> None:
    user = {"id": "5000001", "email": "gone@example.com", "last_name": "Gone", "status": "disabled"}
    await http.post("/__emulator__/seed", json={"users": [user]})
    report = await doctor(http, top_manager="gone@example.com")
    fixes = failed(report)
    assert list(fixes) == ["TOP manager"]
    assert "CALLSYNC_SCENARIO__TOP_MANAGER" in fixes["TOP manager"]
    assert "not an active Zoho user" in report.render()
    assert not report.ok


async def test_employee_entries_naming_no_active_user_fail(http: httpx.AsyncClient) -> None:
    user = {"id": "5000001", "email": "gone@example.com", "last_name": "Gone", "status": "disabled"}
    await http.post("/__emulator__/seed", json={"users": [user]})
    cfg = settings().model_dump()
    cfg["employees"] = [
        {"zoho_user": ADMIN, "sip": ["admin_sip"]},
        {"zoho_user": "nobody@example.com", "sip": ["x_sip"]},
        {"zoho_user": "gone@example.com", "sip": ["gone_sip"]},
    ]
    report = await run_doctor(Settings(**cfg), http, sleep=_no_sleep, clock=_now)
    fixes = failed(report)
    assert list(fixes) == ["employee map"]
    assert "'nobody@example.com', 'gone@example.com'" in fixes["employee map"]
    [check] = [c for c in report.checks if c.name == "employee map"]
    assert "'nobody@example.com' names no Zoho user" in check.detail
    assert "'gone@example.com' names an inactive Zoho user" in check.detail
    assert not report.ok

    cfg["employees"] = cfg["employees"][:1]
    report = await run_doctor(Settings(**cfg), http, sleep=_no_sleep, clock=_now)
    [check] = [c for c in report.checks if c.name == "employee map"]
    assert check.ok and check.detail == "1 [[employees]] entries, each names an active Zoho user"


def _agents(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"50001{n:02d}",
            "email": f"agent{n}@example.com",
            "last_name": f"Agent {n}",
            "status": "active",
            "role": {"name": "CEO", "id": "95013"},
        }
        for n in range(count)
    ]


async def test_an_empty_or_mostly_unmapped_employee_map_is_a_warning(
    http: httpx.AsyncClient,
) -> None:
    agents = _agents(5)
    agents[0]["phone"] = "+380 50 111 22 33"  # mapped by its own Zoho phone (auto_map_users)
    await http.post("/__emulator__/seed", json={"users": agents})

    report = await doctor(http)
    [check] = [c for c in report.checks if c.name == "employee map"]
    assert check.ok and check.warn and report.ok
    assert check.detail.startswith(
        "no [[employees]] entries; 1 of 5 active users besides the TOP manager are mapped"
    )
    assert "go to the TOP manager" in check.fix
    lines = report.render().splitlines()
    assert any(line.startswith("[warn] employee map: no [[employees]] entries") for line in lines)
    assert lines[-1].endswith(": ready (1 warning)")

    # One entry for five agents: still mostly unmapped.
    cfg = settings().model_dump()
    cfg["employees"] = [{"zoho_user": "agent1@example.com", "sip": ["a1"]}]
    report = await run_doctor(Settings(**cfg), http, sleep=_no_sleep, clock=_now)
    [check] = [c for c in report.checks if c.name == "employee map"]
    assert check.warn and "2 of 5 active users" in check.detail
    assert "(not: agent2@example.com, agent3@example.com, agent4@example.com)" in check.detail

    # Three of five mapped: fine.
    cfg["employees"].append({"zoho_user": "agent2@example.com", "sip": ["a2"]})
    report = await run_doctor(Settings(**cfg), http, sleep=_no_sleep, clock=_now)
    [check] = [c for c in report.checks if c.name == "employee map"]
    assert check.ok and not check.warn
    assert "[ ok ] employee map: 2 [[employees]] entries" in report.render()


async def test_missing_fields_and_a_sync_key_that_is_not_unique(
    http: httpx.AsyncClient, state: ZohoState
) -> None:
    del state.modules["Leads"].fields["rs_utm_campaign"]
    tasks = state.modules["Tasks"].fields
    tasks["rs_sync_key"] = dataclasses.replace(tasks["rs_sync_key"], unique=False)
    report = await doctor(http)
    fixes = failed(report)
    assert set(fixes) == {"fields on Leads", "fields on Tasks"}
    assert "rs_utm_campaign" in fixes["fields on Leads"]
    assert "Do not allow duplicate values" in fixes["fields on Tasks"]
    lines = report.render().splitlines()
    assert "[FAIL] fields on Tasks: rs_sync_key is not unique" in lines


async def test_records_whose_phone_fields_hold_no_number_are_counted(
    http: httpx.AsyncClient,
) -> None:
    owner = {"id": "5000000", "name": "Org Admin"}
    seed = {
        "Leads": [
            {"Last_Name": "a", "Phone": "067 111 22 99, 050 111 22 98", "Owner": owner},
            {
                "Last_Name": "b",
                "Phone": "n/a",
                "Mobile": "+380 67 111 22 77 (viber)",
                "Owner": owner,
            },
            {"Last_Name": "c", "Phone": "ask Anna", "Owner": owner},
            {"Last_Name": "d", "Owner": owner},
        ],
        "Contacts": [{"Last_Name": "e", "Phone": "tel. 050-111-22-33 ext 5", "Owner": owner}],
    }
    ids = (await http.post("/__emulator__/seed", json=seed)).json()["ids"]
    report = await doctor(http)
    checks = {c.name: c for c in report.checks}
    leads = checks["phone values on Leads"]
    assert leads.ok
    assert leads.detail == (
        "4 records; 2 have a phone field with no number in it, 1 of them no number at all "
        f"(no call can match them; e.g. ids {ids['Leads'][2]})"
    )
    assert checks["phone values on Contacts"].detail == (
        "1 records; every filled phone field holds a number"
    )


async def test_every_mapped_zoho_field_must_exist(
    http: httpx.AsyncClient, state: ZohoState
) -> None:
    field_map = {
        "Leads": {"rs_utm_source": "utm_source", "rs_landing_page": "landing"},
        "Tasks": {"rs_tracking_line": "dst", "rs_sync_key_x": "uniqueid"},
    }
    report = await doctor(http, field_map=field_map)
    fixes = failed(report)
    assert set(fixes) == {"fields on Leads", "fields on Tasks"}
    lines = report.render().splitlines()
    assert "[FAIL] fields on Leads: missing rs_landing_page" in lines
    assert "[FAIL] fields on Tasks: missing rs_tracking_line, rs_sync_key_x" in lines
    assert "rs_landing_page" in fixes["fields on Leads"]

    # once the org has them, the doctor is content
    leads, tasks = state.modules["Leads"].fields, state.modules["Tasks"].fields
    leads["rs_landing_page"] = dataclasses.replace(
        leads["rs_utm_source"], api_name="rs_landing_page"
    )
    for name in ("rs_tracking_line", "rs_sync_key_x"):
        tasks[name] = dataclasses.replace(tasks["rs_sync_key"], api_name=name, unique=False)
    assert failed(await doctor(http, field_map=field_map)) == {}


async def test_refused_refresh_token_stops_after_the_first_check(
    http: httpx.AsyncClient,
) -> None:
    await http.post("/__emulator__/seed", json={"oauth": {"refresh_tokens": ["another"]}})
    report = await doctor(http)
    assert [c.name for c in report.checks] == ["access token"]
    fix = failed(report)["access token"]
    assert "ZohoCRM.coql.READ" in fix and "CALLSYNC_ZOHO__REFRESH_TOKEN" in fix
    assert "invalid_code" in report.render()


async def test_missing_scope_names_it(state: ZohoState) -> None:
    inner = transport(create_app(state))

    async def no_fields_scope(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/crm/v8/settings/fields":
            body = {
                "code": "OAUTH_SCOPE_MISMATCH",
                "details": {},
                "message": "invalid oauth scope to access this URL",
                "status": "error",
            }
            return httpx.Response(401, json=body)
        return await inner.handle_async_request(request)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(no_fields_scope), base_url=BASE
    ) as http:
        report = await doctor(http)
    fixes = failed(report)
    assert set(fixes) == {"fields on Leads", "fields on Contacts", "fields on Tasks"}
    assert all("ZohoCRM.settings.fields.READ" in fix for fix in fixes.values())
