"""Zoho emulator: record writes — batches, per-record errors, update, upsert, delete, convert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from emulators.zoho import ZohoState
from tests.support.zoho_harness import FakeClock, client_for, ids, login

pytestmark = pytest.mark.anyio

USERS = {
    "users": [
        {"id": "9001", "first_name": "Anna", "last_name": "Ivanova", "email": "anna@example.com"},
        {"id": "9002", "last_name": "Gone", "email": "gone@example.com", "status": "disabled"},
    ]
}


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        await client.post("/__emulator__/seed", json=USERS)
        await login(client)
        yield client


def state_of(app: FastAPI) -> ZohoState:
    state = app.state.zoho
    assert isinstance(state, ZohoState)
    return state


async def insert(http: httpx.AsyncClient, module: str, *records: dict[str, Any]) -> httpx.Response:
    return await http.post(f"/crm/v8/{module}", json={"data": list(records)})


async def one_error(http: httpx.AsyncClient, module: str, record: dict[str, Any]) -> dict[str, Any]:
    response = await insert(http, module, record)
    assert response.status_code == 400
    item = response.json()["data"][0]
    assert item["status"] == "error"
    return dict(item)


# -- insert: statuses and system fields -------------------------------------------------------


async def test_all_inserted_is_201_with_system_fields(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    response = await insert(
        http, "Leads", {"Last_Name": "A", "Phone": "+380501234567"}, {"Last_Name": "B"}
    )
    assert response.status_code == 201
    first = response.json()["data"][0]
    assert first["code"] == "SUCCESS" and first["message"] == "record added"
    details = first["details"]
    assert details["Created_Time"] == details["Modified_Time"] == "2026-01-18T12:00:00+02:00"
    assert details["Created_By"]["id"] == details["Modified_By"]["id"]
    new_id = details["id"]
    assert new_id.isdigit() and len(new_id) == 19
    got = (await http.get(f"/crm/v8/Leads/{new_id}")).json()["data"][0]
    assert got["Phone"] == "+380501234567"
    assert set(got["Owner"]) == {"name", "id", "email"}
    assert got["Converted__s"] is False
    assert got["Full_Name"] == "A"


async def test_all_failed_is_400_with_data_body(http: httpx.AsyncClient) -> None:
    response = await insert(http, "Leads", {"Phone": "1"}, {"First_Name": "x"})
    assert response.status_code == 400
    assert [i["code"] for i in response.json()["data"]] == ["MANDATORY_NOT_FOUND"] * 2


async def test_mixed_batch_is_207_in_input_order(http: httpx.AsyncClient) -> None:
    response = await insert(
        http, "Leads", {"Last_Name": "ok"}, {"First_Name": "no last name"}, {"Last_Name": "ok2"}
    )
    assert response.status_code == 207
    assert [i["status"] for i in response.json()["data"]] == ["success", "error", "success"]
    assert response.json()["data"][1]["details"] == {
        "api_name": "Last_Name",
        "json_path": "$.data[1].Last_Name",
    }


async def test_more_than_100_records_is_a_request_error(
    http: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await insert(http, "Tasks", *({"Subject": f"t{i}"} for i in range(101)))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "LIMIT_EXCEEDED" and body["status"] == "error" and "data" not in body
    assert state_of(app).records["Tasks"] == {}
    exactly = await insert(http, "Tasks", *({"Subject": f"t{i}"} for i in range(100)))
    assert exactly.status_code == 201


async def test_unknown_module_and_missing_data(http: httpx.AsyncClient) -> None:
    unknown = await insert(http, "Widgets", {"Name": "x"})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "code": "INVALID_MODULE",
        "details": {"resource_path_index": 0},
        "message": "The module name given seems to be invalid",
        "status": "error",
    }
    empty = await http.post("/crm/v8/Leads", json={"data": []})
    assert (empty.status_code, empty.json()["code"]) == (400, "REQUIRED_PARAM_MISSING")
    garbage = await http.post(
        "/crm/v8/Leads", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (garbage.status_code, garbage.json()["code"]) == (400, "INVALID_DATA")


# -- per-record errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "record", "api_name"),
    [
        ("Leads", {"First_Name": "x"}, "Last_Name"),
        ("Contacts", {"Phone": "1"}, "Last_Name"),
        ("Deals", {"Deal_Name": "d"}, "Stage"),
        ("Deals", {"Stage": "Qualification"}, "Deal_Name"),
        ("Tasks", {"Status": "Completed"}, "Subject"),
        (
            "Calls",
            {
                "Subject": "s",
                "Call_Type": "Inbound",
                "Call_Start_Time": "2026-01-18T10:00:00+02:00",
            },
            "Call_Duration",
        ),
        (
            "Calls",
            {"Subject": "s", "Call_Type": "Inbound", "Call_Duration": "01:00"},
            "Call_Start_Time",
        ),
        ("Leads", {"Last_Name": "  "}, "Last_Name"),
    ],
)
async def test_mandatory_not_found(
    http: httpx.AsyncClient, module: str, record: dict[str, Any], api_name: str
) -> None:
    item = await one_error(http, module, record)
    assert item["code"] == "MANDATORY_NOT_FOUND"
    assert item["message"] == "required field not found"
    assert item["details"] == {"api_name": api_name, "json_path": f"$.data[0].{api_name}"}


async def test_missed_call_needs_no_duration(http: httpx.AsyncClient) -> None:
    call = {"Subject": "s", "Call_Type": "Missed", "Call_Start_Time": "2026-01-18T10:00:00+02:00"}
    assert (await insert(http, "Calls", call)).status_code == 201


@pytest.mark.parametrize(
    ("record", "api_name", "expected_type"),
    [
        ({"Last_Name": "x", "Phone": 380501234567}, "Phone", "phone"),
        ({"Last_Name": "x", "Phone": "call me maybe"}, "Phone", "phone"),
        ({"Last_Name": 5}, "Last_Name", "text"),
        ({"Last_Name": "x", "Email": "not-an-email"}, "Email", "email"),
        ({"Last_Name": "x", "Owner": "not-an-object-or-id"}, "Owner", None),
        ({"Last_Name": "x", "rs_utm_source": ["google"]}, "rs_utm_source", "text"),
    ],
)
async def test_invalid_data_with_expected_type(
    http: httpx.AsyncClient, record: dict[str, Any], api_name: str, expected_type: str | None
) -> None:
    item = await one_error(http, "Leads", record)
    assert item["code"] == "INVALID_DATA"
    assert item["details"]["api_name"] == api_name
    assert item["details"]["json_path"] == f"$.data[0].{api_name}"
    if expected_type is not None:
        assert item["details"]["expected_data_type"] == expected_type


@pytest.mark.parametrize(
    ("module", "record", "api_name", "limit"),
    [
        ("Leads", {"Last_Name": "x", "rs_utm_campaign": "c" * 256}, "rs_utm_campaign", "255"),
        ("Leads", {"Last_Name": "x", "Phone": "1" * 31}, "Phone", "30"),
        ("Tasks", {"Subject": "s" * 256}, "Subject", "255"),
    ],
)
async def test_invalid_data_too_long(
    http: httpx.AsyncClient, module: str, record: dict[str, Any], api_name: str, limit: str
) -> None:
    item = await one_error(http, module, record)
    assert item["code"] == "INVALID_DATA"
    assert item["details"] == {
        "api_name": api_name,
        "json_path": f"$.data[0].{api_name}",
        "maximum_length": limit,
    }


async def test_limits_are_inclusive(http: httpx.AsyncClient) -> None:
    ok = await insert(
        http, "Leads", {"Last_Name": "x", "rs_utm_term": "t" * 255, "Phone": "1" * 30}
    )
    assert ok.status_code == 201


@pytest.mark.parametrize(
    ("module", "record", "api_name"),
    [
        ("Tasks", {"Subject": "s", "Status": "Done"}, "Status"),
        ("Tasks", {"Subject": "s", "Priority": "Urgent"}, "Priority"),
        ("Deals", {"Deal_Name": "d", "Stage": "Won"}, "Stage"),
        (
            "Calls",
            {
                "Subject": "s",
                "Call_Type": "Voicemail",
                "Call_Start_Time": "2026-01-18T10:00:00+02:00",
                "Call_Duration": "01:00",
            },
            "Call_Type",
        ),
        ("Leads", {"Last_Name": "x", "Lead_Status": "Hot"}, "Lead_Status"),
    ],
)
async def test_picklist_values_are_checked(
    http: httpx.AsyncClient, module: str, record: dict[str, Any], api_name: str
) -> None:
    item = await one_error(http, module, record)
    assert (item["code"], item["details"]["api_name"]) == ("INVALID_DATA", api_name)


async def test_answered_call_duration_cannot_be_zero(http: httpx.AsyncClient) -> None:
    call = {
        "Subject": "s",
        "Call_Type": "Outbound",
        "Call_Start_Time": "2026-01-18T10:00:00+02:00",
        "Call_Duration": "00:00",
    }
    item = await one_error(http, "Calls", call)
    assert (item["code"], item["details"]["api_name"]) == ("INVALID_DATA", "Call_Duration")


async def test_dates_and_datetimes_are_checked(http: httpx.AsyncClient) -> None:
    naive = await one_error(
        http,
        "Calls",
        {"Subject": "s", "Call_Type": "Missed", "Call_Start_Time": "2026-01-18T10:00:00"},
    )
    assert naive["details"]["expected_data_type"] == "datetime"
    bad_date = await one_error(http, "Tasks", {"Subject": "s", "Due_Date": "18.01.2026"})
    assert bad_date["details"]["expected_data_type"] == "date"
    alarm = await one_error(http, "Tasks", {"Subject": "s", "Remind_At": "tomorrow"})
    assert alarm["details"]["api_name"] == "Remind_At"


async def test_lookups_must_exist(http: httpx.AsyncClient) -> None:
    lead_id = ids(await insert(http, "Leads", {"Last_Name": "L"}))[0]
    contact_id = ids(await insert(http, "Contacts", {"Last_Name": "C"}))[0]
    missing_lead = await one_error(
        http, "Tasks", {"Subject": "s", "What_Id": {"id": "1"}, "$se_module": "Leads"}
    )
    assert missing_lead["details"]["api_name"] == "What_Id"
    assert missing_lead["message"] == "the id given seems to be invalid"
    wrong_module = await one_error(
        http, "Tasks", {"Subject": "s", "What_Id": {"id": lead_id}, "$se_module": "Deals"}
    )
    assert wrong_module["details"]["api_name"] == "What_Id"
    no_module = await one_error(http, "Tasks", {"Subject": "s", "What_Id": {"id": lead_id}})
    assert no_module["details"]["api_name"] == "$se_module"
    lead_as_contact = await one_error(http, "Tasks", {"Subject": "s", "Who_Id": {"id": lead_id}})
    assert lead_as_contact["details"]["api_name"] == "Who_Id"
    deal = await one_error(
        http, "Deals", {"Deal_Name": "d", "Stage": "Qualification", "Contact_Name": {"id": lead_id}}
    )
    assert deal["details"]["api_name"] == "Contact_Name"
    good = await insert(
        http,
        "Tasks",
        {"Subject": "on lead", "What_Id": {"id": lead_id}, "$se_module": "Leads"},
        {"Subject": "on contact", "Who_Id": {"id": contact_id}},
    )
    assert good.status_code == 201
    task = (await http.get(f"/crm/v8/Tasks/{ids(good)[0]}")).json()["data"][0]
    assert task["What_Id"] == {"name": "L", "id": lead_id}
    assert task["$se_module"] == "Leads"


async def test_owner_must_be_an_active_user(http: httpx.AsyncClient) -> None:
    unknown = await one_error(http, "Leads", {"Last_Name": "x", "Owner": {"id": "123"}})
    assert unknown["details"]["api_name"] == "Owner"
    disabled = await one_error(http, "Leads", {"Last_Name": "x", "Owner": {"id": "9002"}})
    assert disabled["details"]["api_name"] == "Owner"
    ok = await insert(http, "Leads", {"Last_Name": "x", "Owner": {"id": "9001"}})
    got = (await http.get(f"/crm/v8/Leads/{ids(ok)[0]}")).json()["data"][0]
    assert got["Owner"] == {"name": "Anna Ivanova", "id": "9001", "email": "anna@example.com"}


async def test_duplicate_sync_key_points_at_the_existing_record(http: httpx.AsyncClient) -> None:
    first = await insert(
        http, "Tasks", {"Subject": "s", "rs_sync_key": "ua-1/task", "Owner": {"id": "9001"}}
    )
    again = await insert(http, "Tasks", {"Subject": "s", "rs_sync_key": "ua-1/task"})
    assert again.status_code == 400
    item = again.json()["data"][0]
    assert item["code"] == "DUPLICATE_DATA"
    assert item["message"] == "duplicate data"
    assert item["details"] == {
        "api_name": "rs_sync_key",
        "json_path": "$.data[0].rs_sync_key",
        "duplicate_record": {
            "id": ids(first)[0],
            "module": {
                "api_name": "Tasks",
                "id": item["details"]["duplicate_record"]["module"]["id"],
            },
            "Owner": {"name": "Anna Ivanova", "id": "9001", "email": "anna@example.com"},
        },
    }


@pytest.mark.parametrize("module", ["Leads", "Tasks", "Calls"])
async def test_sync_key_is_unique_within_one_batch(http: httpx.AsyncClient, module: str) -> None:
    base = {
        "Leads": {"Last_Name": "x"},
        "Tasks": {"Subject": "x"},
        "Calls": {
            "Subject": "x",
            "Call_Type": "Missed",
            "Call_Start_Time": "2026-01-18T10:00:00+02:00",
        },
    }[module]
    response = await insert(
        http, module, {**base, "rs_sync_key": "k"}, {**base, "rs_sync_key": "k"}
    )
    assert response.status_code == 207
    assert [i["code"] for i in response.json()["data"]] == ["SUCCESS", "DUPLICATE_DATA"]


async def test_unknown_and_system_fields_are_ignored(http: httpx.AsyncClient) -> None:
    response = await insert(
        http, "Leads", {"Last_Name": "x", "Nope__c": 1, "Created_Time": "2000-01-01T00:00:00+00:00"}
    )
    got = (await http.get(f"/crm/v8/Leads/{ids(response)[0]}")).json()["data"][0]
    assert "Nope__c" not in got
    assert got["Created_Time"] == "2026-01-18T12:00:00+02:00"


# -- update, upsert, delete ------------------------------------------------------------------


async def test_update_changes_fields_and_modified_time(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    lead_id = ids(await insert(http, "Leads", {"Last_Name": "x"}))[0]
    clock.advance(minutes=5)
    response = await http.put(
        "/crm/v8/Leads", json={"data": [{"id": lead_id, "rs_utm_source": "google"}]}
    )
    assert response.status_code == 200
    item = response.json()["data"][0]
    assert item["message"] == "record updated"
    assert item["details"]["Modified_Time"] == "2026-01-18T12:05:00+02:00"
    assert item["details"]["Created_Time"] == "2026-01-18T12:00:00+02:00"
    got = (await http.get(f"/crm/v8/Leads/{lead_id}")).json()["data"][0]
    assert (got["rs_utm_source"], got["Last_Name"]) == ("google", "x")
    by_path = await http.put(f"/crm/v8/Leads/{lead_id}", json={"data": [{"rs_utm_medium": "cpc"}]})
    assert by_path.status_code == 200
    assert (await http.get(f"/crm/v8/Leads/{lead_id}")).json()["data"][0]["rs_utm_medium"] == "cpc"


async def test_update_errors(http: httpx.AsyncClient) -> None:
    lead_id = ids(await insert(http, "Leads", {"Last_Name": "x", "rs_sync_key": "a"}))[0]
    other = ids(await insert(http, "Leads", {"Last_Name": "y", "rs_sync_key": "b"}))[0]
    response = await http.put(
        "/crm/v8/Leads",
        json={
            "data": [
                {"Last_Name": "no id"},
                {"id": "1", "Last_Name": "unknown id"},
                {"id": lead_id, "Last_Name": ""},
                {"id": other, "rs_sync_key": "a"},
                {"id": lead_id, "Description": "fine"},
            ]
        },
    )
    assert response.status_code == 207
    data = response.json()["data"]
    assert [i["code"] for i in data] == [
        "MANDATORY_NOT_FOUND",
        "INVALID_DATA",
        "MANDATORY_NOT_FOUND",
        "DUPLICATE_DATA",
        "SUCCESS",
    ]
    assert data[0]["details"]["api_name"] == "id"
    assert data[1]["details"]["api_name"] == "id"


async def test_upsert_updates_by_email_or_inserts(http: httpx.AsyncClient) -> None:
    first = await http.post(
        "/crm/v8/Leads/upsert", json={"data": [{"Last_Name": "x", "Email": "a@b.com"}]}
    )
    assert first.status_code == 200
    assert first.json()["data"][0]["action"] == "insert"
    second = await http.post(
        "/crm/v8/Leads/upsert", json={"data": [{"Last_Name": "y", "Email": "a@b.com"}]}
    )
    item = second.json()["data"][0]
    assert (item["action"], item["duplicate_field"]) == ("update", "Email")
    assert item["details"]["id"] == first.json()["data"][0]["details"]["id"]
    by_key = await http.post(
        "/crm/v8/Leads/upsert",
        json={
            "data": [{"Last_Name": "z", "rs_sync_key": "k"}],
            "duplicate_check_fields": ["rs_sync_key"],
        },
    )
    again = await http.post(
        "/crm/v8/Leads/upsert",
        json={
            "data": [{"Last_Name": "z2", "rs_sync_key": "k"}],
            "duplicate_check_fields": ["rs_sync_key"],
        },
    )
    assert again.json()["data"][0]["details"]["id"] == by_key.json()["data"][0]["details"]["id"]
    assert again.json()["data"][0]["duplicate_field"] == "rs_sync_key"


async def test_upsert_checks_only_duplicate_check_or_unique_fields(
    http: httpx.AsyncClient, app: FastAPI
) -> None:
    await insert(http, "Leads", {"Last_Name": "x", "Phone": "+380501234567"})
    for names, bad in ((["Phone"], "Phone"), (["rs_sync_key", "Nope"], "Nope")):
        response = await http.post(
            "/crm/v8/Leads/upsert",
            json={
                "data": [{"Last_Name": "y", "Phone": "+380501234567", "rs_sync_key": "k"}],
                "duplicate_check_fields": names,
            },
        )
        assert response.status_code == 400
        assert response.json() == {
            "code": "INVALID_DATA",
            "details": {
                "api_name": bad,
                "json_path": f"$.duplicate_check_fields[{names.index(bad)}]",
            },
            "message": "Please check whether the input values are correct",
            "status": "error",
        }
    assert [r["Last_Name"] for r in state_of(app).records["Leads"].values()] == ["x"]
    system = await http.post(  # Email: the system's duplicate check, though not unique
        "/crm/v8/Leads/upsert",
        json={
            "data": [{"Last_Name": "z", "Email": "z@x.com"}],
            "duplicate_check_fields": ["Email"],
        },
    )
    assert system.json()["data"][0]["action"] == "insert"


@pytest.mark.parametrize("module", ["Tasks", "Calls"])
async def test_upsert_is_not_available_for_activities(http: httpx.AsyncClient, module: str) -> None:
    response = await http.post(f"/crm/v8/{module}/upsert", json={"data": [{"Subject": "s"}]})
    assert response.status_code == 400
    assert response.json()["status"] == "error"


async def test_delete_and_deleted_list(http: httpx.AsyncClient) -> None:
    created = ids(await insert(http, "Leads", {"Last_Name": "a"}, {"Last_Name": "b"}))
    empty = await http.get("/crm/v8/Leads/deleted")
    assert empty.status_code == 204
    response = await http.delete("/crm/v8/Leads", params={"ids": f"{created[0]},1"})
    assert response.status_code == 207
    assert [i["status"] for i in response.json()["data"]] == ["success", "error"]
    assert (await http.get(f"/crm/v8/Leads/{created[0]}")).status_code == 204
    single = await http.delete(f"/crm/v8/Leads/{created[1]}")
    assert single.json()["data"][0]["message"] == "record deleted"
    deleted = (await http.get("/crm/v8/Leads/deleted")).json()
    assert [d["id"] for d in deleted["data"]] == created
    assert deleted["data"][0]["display_name"] == "a"
    assert deleted["data"][0]["deleted_time"] == "2026-01-18T12:00:00+02:00"


# -- convert -----------------------------------------------------------------------------------


async def test_convert_lead_to_contact_and_deal(http: httpx.AsyncClient, clock: FakeClock) -> None:
    lead = {
        "First_Name": "Ivan",
        "Last_Name": "Petrenko",
        "Phone": "+380501234567",
        "Mobile": "+380671234567",
        "rs_utm_source": "google",
        "Owner": {"id": "9001"},
    }
    lead_id = ids(await insert(http, "Leads", lead))[0]
    clock.advance(minutes=30)
    response = await http.post(
        f"/crm/v8/Leads/{lead_id}/actions/convert",
        json={
            "data": [
                {"overwrite": True, "Deals": {"Deal_Name": "First order", "Stage": "Qualification"}}
            ]
        },
    )
    assert response.status_code == 200
    item = response.json()["data"][0]
    assert item["message"] == "The record has been converted successfully"
    contact_id = item["details"]["Contacts"]["id"]
    deal_id = item["details"]["Deals"]["id"]
    assert item["details"]["Accounts"] is None
    contact = (await http.get(f"/crm/v8/Contacts/{contact_id}")).json()["data"][0]
    assert (contact["Phone"], contact["Mobile"]) == ("+380501234567", "+380671234567")
    assert contact["rs_utm_source"] == "google"
    assert contact["Owner"]["id"] == "9001"
    deal = (await http.get(f"/crm/v8/Deals/{deal_id}")).json()["data"][0]
    assert deal["Contact_Name"]["id"] == contact_id
    converted = (await http.get(f"/crm/v8/Leads/{lead_id}")).json()["data"][0]
    assert converted["Converted__s"] is True
    assert converted["Converted_Contact"]["id"] == contact_id
    assert converted["Converted_Deal"]["id"] == deal_id
    assert (
        converted["Converted_Date_Time"]
        == converted["Modified_Time"]
        == "2026-01-18T12:30:00+02:00"
    )
    twice = await http.post(f"/crm/v8/Leads/{lead_id}/actions/convert", json={"data": [{}]})
    assert (twice.status_code, twice.json()["code"]) == (400, "ID_ALREADY_CONVERTED")
    update = await http.put("/crm/v8/Leads", json={"data": [{"id": lead_id, "Description": "x"}]})
    assert update.json()["data"][0]["code"] == "CONVERTED_RECORD"


async def test_convert_makes_the_company_an_account(http: httpx.AsyncClient, app: FastAPI) -> None:
    first, second = ids(
        await insert(
            http,
            "Leads",
            {"Last_Name": "a", "Company": "Acme", "Phone": "+380441234567"},
            {"Last_Name": "b", "Company": "Acme"},
        )
    )
    response = await http.post(
        f"/crm/v8/Leads/{first}/actions/convert",
        json={"data": [{"Deals": {"Deal_Name": "Order", "Stage": "Qualification"}}]},
    )
    details = response.json()["data"][0]["details"]
    account_id = details["Accounts"]["id"]
    assert details["Accounts"]["name"] == "Acme"
    account = (await http.get(f"/crm/v8/Accounts/{account_id}")).json()["data"][0]
    assert (account["Account_Name"], account["Phone"]) == ("Acme", "+380441234567")
    contact = (await http.get(f"/crm/v8/Contacts/{details['Contacts']['id']}")).json()["data"][0]
    assert contact["Account_Name"] == {"name": "Acme", "id": account_id}
    deal = (await http.get(f"/crm/v8/Deals/{details['Deals']['id']}")).json()["data"][0]
    assert deal["Account_Name"]["id"] == account_id
    lead = (await http.get(f"/crm/v8/Leads/{first}")).json()["data"][0]
    assert lead["Converted_Account"]["id"] == account_id
    again = await http.post(f"/crm/v8/Leads/{second}/actions/convert", json={"data": [{}]})
    assert again.json()["data"][0]["details"]["Accounts"]["id"] == account_id  # names are unique
    assert len(state_of(app).records["Accounts"]) == 1


async def test_convert_without_deal_and_bad_deal(http: httpx.AsyncClient) -> None:
    lead_id = ids(await insert(http, "Leads", {"Last_Name": "x"}))[0]
    bad = await http.post(
        f"/crm/v8/Leads/{lead_id}/actions/convert", json={"data": [{"Deals": {"Deal_Name": "d"}}]}
    )
    assert bad.status_code == 400
    assert bad.json()["data"][0]["details"] == {
        "api_name": "Stage",
        "json_path": "$.data[0].Deals.Stage",
    }
    plain = await http.post(f"/crm/v8/Leads/{lead_id}/actions/convert", json={"data": [{}]})
    assert plain.json()["data"][0]["details"]["Deals"] is None
    unknown = await http.post("/crm/v8/Leads/1/actions/convert", json={"data": [{}]})
    assert (unknown.status_code, unknown.json()["details"]) == (400, {"resource_path_index": 1})


async def test_owner_cannot_be_removed(http: httpx.AsyncClient) -> None:
    lead_id = ids(await insert(http, "Leads", {"Last_Name": "x"}))[0]
    response = await http.put("/crm/v8/Leads", json={"data": [{"id": lead_id, "Owner": None}]})
    assert response.status_code == 400
    assert response.json()["data"][0]["details"]["api_name"] == "Owner"
