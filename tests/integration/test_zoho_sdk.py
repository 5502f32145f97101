"""Zoho's official Python SDK (``zohocrmsdk8-0``) against the Zoho emulator, one test per operation.

The emulator is served by uvicorn on 127.0.0.1 (the SDK speaks ``requests``, blocking, so the
server runs in a thread on a socket bound before it starts); the SDK gets a custom
``DataCenter.Environment`` with plain http, ``auto_refresh_fields=True`` (so it reads
``/settings/modules`` and every module's fields before the first record call), and keeps its token
store and field cache in ``tmp_path``. Every answer the emulator gives the SDK is also checked
against Zoho's OpenAPI files (``tests.support.zoho_oas``).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap
from zohocrmsdk.src.com.zoho.crm.api import convert_lead as sdk_convert
from zohocrmsdk.src.com.zoho.crm.api import coql as sdk_coql
from zohocrmsdk.src.com.zoho.crm.api import fields as sdk_fields
from zohocrmsdk.src.com.zoho.crm.api import org as sdk_org
from zohocrmsdk.src.com.zoho.crm.api import record as sdk_record
from zohocrmsdk.src.com.zoho.crm.api import users as sdk_users
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.util import Choice, Utility

from emulators.zoho import ZohoState, create_app
from tests.support.zoho_harness import FakeClock
from tests.support.zoho_oas import oas_file_for, validate_response


@dataclass
class Answer:
    method: str
    path: str
    status: int
    body: bytes


@dataclass
class Recorder:
    """ASGI wrapper keeping every answer (status and body) the emulator gives."""

    app: ASGIApp
    answers: list[Answer] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, chunks = 0, bytearray()

        async def keep(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.extend(message.get("body", b""))
                if not message.get("more_body", False):  # kept before the client can see it
                    self.answers.append(Answer(method, path, status, bytes(chunks)))
            await send(message)

        method, path = str(scope["method"]), str(scope["path"])
        await self.app(scope, receive, keep)


@dataclass
class Served:
    base_url: str
    state: ZohoState
    recorder: Recorder


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    state = ZohoState(clock=FakeClock())
    recorder = Recorder(create_app(state))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # bound and listening before the server starts: no wait for it is needed
    config = uvicorn.Config(recorder, lifespan="off", log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", state, recorder)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture
def org(served: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Served]:
    """A fresh org and an SDK initialised against it; afterwards every answer must fit the OAS."""
    httpx.post(f"{served.base_url}/__emulator__/reset").raise_for_status()
    served.recorder.answers.clear()
    # the SDK caches the org's module list in a class attribute; each test starts afresh
    Utility.api_supported_modules = {}
    caplog.set_level(logging.INFO, logger="SDKLogger")
    url = served.base_url
    Initializer.initialize(
        environment=DataCenter.Environment(url, f"{url}/oauth/v2/token", url),
        token=OAuthToken(
            client_id="1000.CLIENT", client_secret="secret", refresh_token="1000.refresh"
        ),
        store=FileStore(str(tmp_path / "tokens.csv")),
        sdk_config=SDKConfig(auto_refresh_fields=True, pick_list_validation=True),
        resource_path=str(tmp_path),
        logger=Logger.get_instance(Logger.Levels.INFO),  # no file: caplog sees the records
    )
    yield served
    for answer in served.recorder.answers:
        file = oas_file_for(answer.path)
        key = (answer.method, answer.path, answer.status, answer.body)
        if file is None or key in VALIDATED:  # metadata answers repeat verbatim: checked once
            continue
        body = httpx.Response(answer.status, content=answer.body).json() if answer.body else None
        validate_response(file, answer.method, answer.path, answer.status, body)
        VALIDATED.add(key)


#: Answers already found to fit the OAS (the same bytes need no second look).
VALIDATED: set[tuple[str, str, int, bytes]] = set()


# -- helpers -------------------------------------------------------------------------------------


def record(**values: Any) -> sdk_record.Record:
    rec = sdk_record.Record()
    for name, value in values.items():
        rec.add_key_value(name, value)
    return rec


def body(*records: sdk_record.Record) -> sdk_record.BodyWrapper:
    wrapper = sdk_record.BodyWrapper()
    wrapper.set_data(list(records))
    return wrapper


def results(response: Any) -> list[Any]:
    """The per-record items of a write answer (``SuccessResponse`` or ``APIException``)."""
    wrapper = response.get_object()
    assert isinstance(wrapper, sdk_record.ActionWrapper), wrapper
    return list(wrapper.get_data())


def created_ids(response: Any) -> list[str]:
    return [str(item.get_details()["id"]) for item in results(response)]


def insert(module: str, *records: sdk_record.Record) -> list[str]:
    response = sdk_record.RecordOperations(module).create_records(body(*records), HeaderMap())
    assert response.get_status_code() == 201
    return created_ids(response)


def params(param_class: Any, **values: Any) -> ParameterMap:
    found = ParameterMap()
    for name, value in values.items():
        found.add(getattr(param_class, name), value)
    return found


def records_of(response: Any) -> list[sdk_record.Record]:
    wrapper = response.get_object()
    assert isinstance(wrapper, sdk_record.ResponseWrapper), wrapper
    return list(wrapper.get_data())


# -- start, org, users, fields -------------------------------------------------------------------


def test_sdk_starts_without_error_and_reads_the_org(
    org: Served, caplog: pytest.LogCaptureFixture
) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    response = sdk_org.OrgOperations().get_organization()
    assert response.get_status_code() == 200
    [found] = response.get_object().get_org()
    assert found.get_time_zone() == "Europe/Kyiv"
    assert found.get_zgid()
    paths = [(a.method, a.path) for a in org.recorder.answers]
    assert ("GET", "/crm/v8/org") in paths


def test_users(org: Served) -> None:
    response = sdk_users.UsersOperations().get_users(
        params(sdk_users.GetUsersParam, type="ActiveUsers")
    )
    assert response.get_status_code() == 200
    [admin] = response.get_object().get_users()
    assert admin.get_email() == "admin@callsync-demo.com"
    assert admin.get_role().get_name() == "CEO"


def test_fields(org: Served) -> None:
    response = sdk_fields.FieldsOperations().get_fields(
        params(sdk_fields.GetFieldsParam, module="Leads")
    )
    assert response.get_status_code() == 200
    by_name = {f.get_api_name(): f for f in response.get_object().get_fields()}
    assert by_name["Phone"].get_data_type() == "phone"
    assert by_name["rs_sync_key"].get_unique().get_casesensitive() == "false"
    assert by_name["Last_Name"].get_system_mandatory() is True


def test_auto_refresh_fields_reads_modules_before_the_first_record_call(org: Served) -> None:
    insert("Leads", record(Last_Name="Smith"))
    paths = [a.path for a in org.recorder.answers]
    assert "/crm/v8/settings/modules" in paths
    assert paths.index("/crm/v8/settings/modules") < paths.index("/crm/v8/Leads")
    assert {"/crm/v8/settings/fields"} <= set(paths)


# -- writes --------------------------------------------------------------------------------------


def test_insert_one(org: Served) -> None:
    [lead_id] = insert("Leads", record(Last_Name="Smith", Phone="+380501234567"))
    stored = org.state.find("Leads", lead_id)
    assert stored is not None and stored["Phone"] == "+380501234567"


def test_insert_hundred_with_per_record_errors(org: Served) -> None:
    rows = [
        record(Last_Name=f"Lead {i}", rs_sync_key=f"k{i}") if i % 10 else record(First_Name="x")
        for i in range(100)
    ]
    response = sdk_record.RecordOperations("Leads").create_records(body(*rows), HeaderMap())
    assert response.get_status_code() == 207
    items = results(response)
    assert len(items) == 100
    errors = {i: item for i, item in enumerate(items) if isinstance(item, sdk_record.APIException)}
    assert sorted(errors) == list(range(0, 100, 10))
    assert {e.get_code().get_value() for e in errors.values()} == {"MANDATORY_NOT_FOUND"}
    assert errors[0].get_details()["api_name"] == "Last_Name"
    assert len(org.state.records["Leads"]) == 90


def test_task_on_a_lead(org: Served) -> None:
    [lead_id] = insert("Leads", record(Last_Name="Smith"))
    what = sdk_record.Record()
    what.set_id(int(lead_id))
    [task_id] = insert(
        "Tasks",
        record(
            Subject="Call back",
            What_Id=what,
            Status=Choice("Not Started"),
            **{"$se_module": "Leads"},
        ),
    )
    response = sdk_record.RecordOperations("Tasks").get_record(int(task_id), ParameterMap())
    [task] = records_of(response)
    assert str(task.get_key_value("What_Id").get_id()) == lead_id
    assert task.get_key_value("$se_module") == "Leads"


def test_update(org: Served) -> None:
    [lead_id] = insert("Leads", record(Last_Name="Smith"))
    change = record(Last_Name="Smythe")
    change.set_id(int(lead_id))
    response = sdk_record.RecordOperations("Leads").update_records(body(change), HeaderMap())
    assert response.get_status_code() == 200
    assert created_ids(response) == [lead_id]
    assert org.state.records["Leads"][lead_id]["Last_Name"] == "Smythe"


def test_upsert(org: Served) -> None:
    ops = sdk_record.RecordOperations("Leads")
    wrapper = body(record(Last_Name="Smith", rs_sync_key="call1/lead"))
    wrapper.set_duplicate_check_fields(["rs_sync_key"])
    first = results(ops.upsert_records(wrapper, HeaderMap()))
    assert first[0].get_details()["id"]
    again = body(record(Last_Name="Smythe", rs_sync_key="call1/lead"))
    again.set_duplicate_check_fields(["rs_sync_key"])
    second = ops.upsert_records(again, HeaderMap())
    assert second.get_status_code() == 200
    [item] = results(second)
    assert item.get_details()["id"] == first[0].get_details()["id"]
    assert [r["Last_Name"] for r in org.state.records["Leads"].values()] == ["Smythe"]


# -- reads ---------------------------------------------------------------------------------------


def test_search_by_phone(org: Served) -> None:
    insert("Leads", record(Last_Name="Smith", Phone="+380501234567"), record(Last_Name="Other"))
    response = sdk_record.RecordOperations("Leads").search_records(
        params(sdk_record.SearchRecordsParam, phone="+380501234567"), HeaderMap()
    )
    assert response.get_status_code() == 200
    assert [r.get_key_value("Last_Name") for r in records_of(response)] == ["Smith"]


def test_coql(org: Served) -> None:
    insert("Leads", record(Last_Name="Smith", Phone="+380501234567"), record(Last_Name="Other"))
    query = sdk_coql.BodyWrapper()
    query.set_select_query("select Last_Name, Phone from Leads where Phone like '%501234567'")
    response = sdk_coql.CoqlOperations().get_records(query)
    assert response.get_status_code() == 200
    rows = response.get_object().get_data()
    assert [r.get_key_value("Last_Name") for r in rows] == ["Smith"]


def test_paging_with_page_token(org: Served) -> None:
    for start in range(0, 250, 100):
        insert(
            "Leads", *(record(Last_Name=f"L{i:03d}") for i in range(start, min(start + 100, 250)))
        )
    ops = sdk_record.RecordOperations("Leads")
    seen: list[str] = []
    token: str | None = None
    while True:
        wanted = {"fields": "Last_Name", "per_page": 100, "sort_by": "id", "sort_order": "asc"}
        if token:
            wanted["page_token"] = token
        response = ops.get_records(params(sdk_record.GetRecordsParam, **wanted), HeaderMap())
        seen += [r.get_key_value("Last_Name") for r in records_of(response)]
        info = response.get_object().get_info()
        if not info.get_more_records():
            break
        token = info.get_next_page_token()
    assert seen == [f"L{i:03d}" for i in range(250)]


def test_deleted(org: Served) -> None:
    ids = insert("Leads", record(Last_Name="Smith"), record(Last_Name="Other"))
    ops = sdk_record.RecordOperations("Leads")
    gone = ops.delete_records(
        params(sdk_record.DeleteRecordsParam, ids=",".join(ids[:1])), HeaderMap()
    )
    assert gone.get_status_code() == 200
    response = ops.get_deleted_records(
        params(sdk_record.GetDeletedRecordsParam, type="all"), HeaderMap()
    )
    assert response.get_status_code() == 200
    [deleted] = response.get_object().get_data()
    assert str(deleted.get_id()) == ids[0]
    assert deleted.get_display_name() == "Smith"


def test_convert_creates_contact_and_account(org: Served) -> None:
    [lead_id] = insert("Leads", record(Last_Name="Smith", Company="Acme", Phone="+380501234567"))
    wrapper = sdk_convert.BodyWrapper()
    wrapper.set_data([sdk_convert.LeadConverter()])
    response = sdk_convert.ConvertLeadOperations(int(lead_id)).convert_lead(wrapper)
    assert response.get_status_code() == 200
    [item] = response.get_object().get_data()
    assert isinstance(item, sdk_convert.SuccessResponse), item
    details = item.get_details()
    account_id = str(details["Accounts"].get_id())
    contact_id = str(details["Contacts"].get_id())
    assert org.state.records["Accounts"][account_id]["Account_Name"] == "Acme"
    assert org.state.records["Contacts"][contact_id]["Account_Name"] == {"id": account_id}
