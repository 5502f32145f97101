"""ZohoClient on httpx.MockTransport: retries, the concurrency cap, batching, paging, 204/304."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from models.settings import ZohoSettings
from tasks.zoho.client import RecordResult, ZohoClient
from tasks.zoho.coql import CoqlError, is_not_null
from tasks.zoho.errors import FatalError, RecordRejected, RetriableError

T0 = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)
Route = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Fake:
    """Token endpoint plus a per-test CRM handler; records every CRM request."""

    def __init__(self, crm: Route) -> None:
        self.crm = crm
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # stay in flight across a scheduler turn
            await asyncio.sleep(0)
            return await self.crm(request)
        finally:
            self.in_flight -= 1

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


def make(crm: Route, **kw: Any) -> tuple[ZohoClient, Fake, Sleeps]:
    fake, sleeps = Fake(crm), Sleeps()
    settings = ZohoSettings(
        client_id="c", client_secret="s", refresh_token="r", **({"max_retries": 4} | kw)
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    client = ZohoClient(settings, http, sleep=sleeps, clock=lambda: T0, rng=random.Random(7))
    return client, fake, sleeps


def ok(rid: str) -> dict[str, Any]:
    return {
        "code": "SUCCESS",
        "details": {"id": rid},
        "message": "record added",
        "status": "success",
    }


def error(code: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "details": details, "message": code.lower(), "status": "error"}


# -- retries ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_429_then_success_backs_off_with_full_jitter() -> None:
    answers = [429, 429, 503, 200]

    async def crm(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        if status == 200:
            return httpx.Response(200, json={"roles": []})
        return httpx.Response(status, json=error("TOO_MANY_REQUESTS"))

    client, fake, sleeps = make(crm, backoff_base_s=1.0, backoff_max_s=3.0)
    assert await client.roles() == []
    assert len(fake.requests) == 4
    assert len(sleeps.delays) == 3
    caps = [1.0, 2.0, 3.0]  # base * 2**n, capped at backoff_max_s
    assert all(0 <= d <= cap for d, cap in zip(sleeps.delays, caps, strict=True))
    assert len(set(sleeps.delays)) == 3  # jittered, not a fixed schedule
    assert client.stats.retries == 3
    assert client.stats.credits == 1  # refused answers cost nothing


@pytest.mark.anyio
async def test_retries_stop_at_max_retries() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json=error("INTERNAL_ERROR"))

    client, fake, sleeps = make(crm, max_retries=2)
    with pytest.raises(RetriableError):
        await client.roles()
    assert len(fake.requests) == 3 and len(sleeps.delays) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 403, 404])
async def test_4xx_is_never_retried(status: int) -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=error("INVALID_MODULE"))

    client, fake, sleeps = make(crm)
    with pytest.raises(FatalError, match="INVALID_MODULE"):
        await client.fields("Leads")
    assert len(fake.requests) == 1 and sleeps.delays == []


@pytest.mark.anyio
async def test_connect_error_is_retried_for_writes_too() -> None:
    calls = 0

    async def crm(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, json={"data": [ok("1")]})

    client, _, sleeps = make(crm)
    [result] = await client.insert("Leads", [{"Last_Name": "x", "rs_sync_key": "a/lead"}])
    assert result.ok and result.id == "1"
    assert len(sleeps.delays) == 1


@pytest.mark.anyio
async def test_concurrency_never_exceeds_the_cap() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"roles": []})

    client, fake, _ = make(crm, max_concurrency=3)
    await asyncio.gather(*(client.roles() for _ in range(12)))
    assert fake.max_in_flight == 3  # reached (requests did overlap) and never passed


# -- writes -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_insert_splits_into_batches_of_100_and_keeps_order() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        data = json.loads(request.content)["data"]
        return httpx.Response(201, json={"data": [ok(f"id-{r['rs_sync_key']}") for r in data]})

    client, fake, _ = make(crm)
    records = [{"Last_Name": f"n{i}", "rs_sync_key": f"k{i}/lead"} for i in range(250)]
    results = await client.insert("Leads", records)
    assert [len(b["data"]) for b in fake.bodies()] == [100, 100, 50]
    assert [r.id for r in results] == [f"id-k{i}/lead" for i in range(250)]
    assert all("trigger" not in b for b in fake.bodies())  # Zoho's default: its automation runs
    assert client.stats.credits == 10 + 10 + 5
    assert client.stats.by_route["POST /crm/v8/{module}"] == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("trigger", "sent"),
    [
        ((), []),
        (("workflow",), ["workflow"]),
        (("workflow", "blueprint"), ["workflow", "blueprint"]),
    ],
)
async def test_configured_trigger_is_sent_on_inserts_and_updates(
    trigger: tuple[str, ...], sent: list[str]
) -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201 if request.method == "POST" else 200, json={"data": [ok("1")]})

    client, fake, _ = make(crm, trigger=trigger)
    await client.insert("Tasks", [{"Subject": "s"}])
    await client.update("Tasks", [{"id": "1", "Subject": "t"}])
    assert [b["trigger"] for b in fake.bodies()] == [sent, sent]


def test_trigger_names_only_zoho_automation() -> None:
    with pytest.raises(ValidationError, match="workflow"):
        ZohoSettings(trigger=("workflows",))  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_mixed_batch_is_mapped_one_by_one() -> None:
    dup_key = error(
        "DUPLICATE_DATA",
        api_name="rs_sync_key",
        json_path="$.data[1].rs_sync_key",
        duplicate_record={"id": "777", "module": {"api_name": "Leads", "id": "1"}},
    )
    dup_email = error(
        "DUPLICATE_DATA", api_name="Email", duplicate_record={"id": "888", "module": {}}
    )
    invalid = error("INVALID_DATA", api_name="Phone", maximum_length=30)

    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(207, json={"data": [ok("1"), dup_key, dup_email, invalid]})

    client, _, _ = make(crm)
    records = [{"Last_Name": str(i), "rs_sync_key": f"c{i}/lead"} for i in range(4)]
    results = await client.insert("Leads", records)
    assert results[0] == RecordResult(True, "1", "SUCCESS", "record added", {"id": "1"}, False)
    assert results[1].ok and results[1].duplicate and results[1].id == "777"
    assert not results[2].ok and results[2].code == "DUPLICATE_DATA" and results[2].id is None
    assert not results[3].ok and results[3].code == "INVALID_DATA"
    assert results[3].details == {"api_name": "Phone", "maximum_length": 30}


@pytest.mark.anyio
async def test_all_failed_batch_400_is_per_record_not_fatal() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        body = {"data": [error("MANDATORY_NOT_FOUND", api_name="Last_Name")]}
        return httpx.Response(400, json=body)

    client, _, sleeps = make(crm)
    [result] = await client.insert("Leads", [{"rs_sync_key": "x/lead"}])
    assert not result.ok and result.code == "MANDATORY_NOT_FOUND" and sleeps.delays == []


@pytest.mark.anyio
async def test_answer_count_mismatch_is_fatal() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"data": [ok("1")]})

    client, _, _ = make(crm)
    with pytest.raises(FatalError, match="1 results for 2 records"):
        await client.insert("Leads", [{"rs_sync_key": "a/lead"}, {"rs_sync_key": "b/lead"}])


class LossyStore:
    """Applies inserts; drops the answer of the first POST after writing part of it."""

    def __init__(self, applied_before_loss: int) -> None:
        self.rows: dict[str, str] = {}
        self.applied_before_loss = applied_before_loss
        self.posts = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/coql"):
            keys = re.findall(r"'([^']+)'", body["select_query"])
            rows = [{"id": self.rows[k], "rs_sync_key": k} for k in keys if k in self.rows]
            if not rows:
                return httpx.Response(204)
            return httpx.Response(
                200, json={"data": rows, "info": {"count": len(rows), "more_records": False}}
            )
        self.posts += 1
        data = body["data"]
        if self.posts == 1:
            for rec in data[: self.applied_before_loss]:
                self.rows[rec.get("rs_sync_key", "")] = str(len(self.rows) + 1)
            raise httpx.RemoteProtocolError("connection dropped", request=request)
        out = []
        for rec in data:
            self.rows[rec["rs_sync_key"]] = str(len(self.rows) + 1)
            out.append(ok(self.rows[rec["rs_sync_key"]]))
        return httpx.Response(201, json={"data": out})


@pytest.mark.anyio
async def test_lost_answer_is_resolved_by_sync_key_then_only_missing_resent() -> None:
    store = LossyStore(applied_before_loss=2)
    client, fake, sleeps = make(store)
    records = [{"Last_Name": str(i), "rs_sync_key": f"call{i}/lead"} for i in range(3)]
    results = await client.insert("Leads", records)
    assert [r.ok for r in results] == [True, True, True]
    assert [r.duplicate for r in results] == [True, True, False]
    assert [r.id for r in results] == ["1", "2", "3"]
    posts = [
        b
        for r, b in zip(fake.requests, fake.bodies(), strict=True)
        if r.url.path.endswith("/Leads")
    ]
    assert [len(p["data"]) for p in posts] == [3, 1]
    assert posts[1]["data"][0]["rs_sync_key"] == "call2/lead"
    assert sleeps.delays == []  # a lost write is looked up, not blindly retried


@pytest.mark.anyio
async def test_lost_answer_without_sync_key_is_reported_not_resent() -> None:
    store = LossyStore(applied_before_loss=1)
    client, _, _ = make(store)
    [result] = await client.insert("Tasks", [{"Subject": "no key"}])
    assert not result.ok and result.code == "OUTCOME_UNKNOWN"
    assert store.posts == 1


@pytest.mark.anyio
async def test_unsafe_sync_key_fails_that_record_alone_without_sending_it() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        data = json.loads(request.content)["data"]
        return httpx.Response(201, json={"data": [ok(r["rs_sync_key"]) for r in data]})

    client, fake, _ = make(crm)
    records = [{"Last_Name": "x", "rs_sync_key": k} for k in ("a/lead", "b'c/lead", "d/lead")]
    results = await client.insert("Leads", records)
    assert [(r.ok, r.id, r.code) for r in results] == [
        (True, "a/lead", "SUCCESS"),
        (False, None, "INVALID_SYNC_KEY"),
        (True, "d/lead", "SUCCESS"),
    ]
    assert [r["rs_sync_key"] for r in fake.bodies()[0]["data"]] == ["a/lead", "d/lead"]


@pytest.mark.anyio
async def test_update_maps_results_and_requires_ids() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        assert request.method == "PUT"
        data = json.loads(request.content)["data"]
        out = [
            ok(r["id"]) if r["id"] != "2" else error("INVALID_DATA", api_name="id") for r in data
        ]
        return httpx.Response(200, json={"data": out})

    client, _, _ = make(crm)
    results = await client.update("Tasks", [{"id": "1", "Status": "x"}, {"id": "2", "Status": "y"}])
    assert [(r.ok, r.id) for r in results] == [(True, "1"), (False, None)]
    with pytest.raises(CoqlError):
        await client.update("Tasks", [{"Status": "no id"}])


@pytest.mark.anyio
async def test_convert_lead() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/crm/v8/Leads/123/actions/convert"
        if json.loads(request.content)["data"][0].get("Deals"):
            return httpx.Response(
                202, json={"data": [error("MANDATORY_NOT_FOUND", api_name="Stage")]}
            )
        details = {"Contacts": {"id": "5"}, "Deals": None, "Accounts": None}
        return httpx.Response(
            200,
            json={
                "data": [
                    {"code": "SUCCESS", "status": "success", "message": "m", "details": details}
                ]
            },
        )

    client, _, _ = make(crm)
    assert (await client.convert_lead("123"))["Contacts"] == {"id": "5"}
    with pytest.raises(RecordRejected, match="MANDATORY_NOT_FOUND"):
        await client.convert_lead("123", deal={"Deal_Name": "d"})
    with pytest.raises(CoqlError):
        await client.convert_lead("../Contacts/1")


# -- reads --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_coql_204_and_credits_by_limit() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204)

    client, _, _ = make(crm)
    assert await client.coql("select id from Leads where id is not null limit 2000") == ([], False)
    assert await client.coql("select id from Leads where id is not null limit 500") == ([], False)
    assert await client.coql("select id from Leads where id is not null") == ([], False)
    assert client.stats.credits == 3 + 2 + 1


@pytest.mark.anyio
async def test_coql_all_pages_with_offset() -> None:
    total = 4500

    async def crm(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["select_query"]
        limit = int(re.search(r"limit (\d+)", query).group(1))  # type: ignore[union-attr]
        m = re.search(r"offset (\d+)", query)
        offset = int(m.group(1)) if m else 0
        rows = [{"id": str(i)} for i in range(offset, min(total, offset + limit))]
        return httpx.Response(
            200,
            json={
                "data": rows,
                "info": {"count": len(rows), "more_records": offset + limit < total},
            },
        )

    client, fake, _ = make(crm)
    rows = await client.coql_all("Leads", ["id"], is_not_null("Phone"))
    assert [r["id"] for r in rows] == [str(i) for i in range(total)]
    queries = [b["select_query"] for b in fake.bodies()]
    assert queries[0].endswith("limit 2000") and queries[2].endswith("limit 2000 offset 4000")


@pytest.mark.anyio
async def test_find_by_sync_keys_chunks_of_50_and_rejects_unsafe_keys() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        keys = re.findall(r"'([^']+)'", json.loads(request.content)["select_query"])
        assert len(keys) <= 50
        rows = [{"id": f"id-{k}", "rs_sync_key": k} for k in keys if k.startswith("k1")]
        return (
            httpx.Response(200, json={"data": rows, "info": {"more_records": False}})
            if rows
            else httpx.Response(204)
        )

    client, fake, _ = make(crm)
    keys = [f"k{i}/task" for i in range(120)]
    found = await client.find_by_sync_keys("Tasks", keys)
    assert len(fake.requests) == 3
    assert found == {k: f"id-{k}" for k in keys if k.startswith("k1")}
    with pytest.raises(CoqlError):
        await client.find_by_sync_keys("Tasks", ["ok/task", "x' or id is not null or 'a"])
    assert len(fake.requests) == 3  # nothing sent


def _listing(total: int) -> Route:
    async def crm(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        per_page = int(q["per_page"])
        if "page_token" in q:
            start = int(q["page_token"].removeprefix("tok-"))
        else:
            page = int(q["page"])
            assert page * per_page <= 2000, "page past 2,000 records"
            start = (page - 1) * per_page
        rows = [{"id": str(i)} for i in range(start, min(total, start + per_page))]
        more = start + per_page < total
        info = {
            "more_records": more,
            "per_page": per_page,
            "next_page_token": f"tok-{start + per_page}" if more else None,
        }
        return httpx.Response(200, json={"data": rows, "info": info})

    return crm


@pytest.mark.anyio
async def test_list_records_pages_then_page_token_past_2000() -> None:
    client, fake, _ = make(_listing(2450))
    since = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
    rows = await client.list_records("Leads", ["Phone", "Owner"], modified_since=since)
    assert [r["id"] for r in rows] == [str(i) for i in range(2450)]
    assert len(fake.requests) == 13
    first, eleventh = fake.requests[0], fake.requests[10]
    assert dict(first.url.params) == {
        "fields": "Phone,Owner",
        "sort_by": "Modified_Time",
        "sort_order": "asc",
        "per_page": "200",
        "page": "1",
    }
    assert first.headers["If-Modified-Since"] == "2026-01-01T08:30:00+00:00"
    assert eleventh.url.params["page_token"] == "tok-2000" and "page" not in eleventh.url.params


@pytest.mark.anyio
async def test_list_records_304_means_nothing_changed() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(304)

    client, _, _ = make(crm)
    assert await client.list_records("Leads", ["Phone"], modified_since=T0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.list_records("Leads", ["Phone"], modified_since=datetime(2026, 1, 1))  # noqa: DTZ001


@pytest.mark.anyio
async def test_users_key_and_type() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        kind = request.url.params["type"]
        return httpx.Response(200, json={"users": [{"id": kind}], "info": {"more_records": False}})

    client, _, _ = make(crm)
    assert await client.users() == [{"id": "ActiveUsers"}]
    assert await client.users(active_only=False) == [{"id": "AllUsers"}]


@pytest.mark.anyio
async def test_search_phone_204_and_validation() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        assert request.url.params["phone"] == "+380661234567"
        return httpx.Response(204)

    client, _, _ = make(crm)
    assert await client.search_phone("Leads", "+380661234567") == []
    with pytest.raises(CoqlError):
        await client.search_phone("Leads", "066 123")


@pytest.mark.anyio
async def test_deleted_ids() -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/crm/v8/Contacts/deleted"
        assert request.url.params["type"] == "all"
        rows = [{"id": "11", "type": "recycle"}, {"id": "12", "type": "permanent"}]
        return httpx.Response(200, json={"data": rows, "info": {"more_records": False}})

    client, _, _ = make(crm)
    assert await client.deleted_ids("Contacts", since=T0) == ["11", "12"]
