"""The Ringostat emulator speaks ``GET /calls/list`` like the real API (as Ringostat documents it)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from emulators.ringostat import RingostatState, create_app

pytestmark = pytest.mark.anyio

KEY = {"Auth-key": "demo-key"}
NOW = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)  # 14:00 in Kyiv (UTC+2 before DST)


def row(uid: str, calldate: str, **extra: Any) -> dict[str, Any]:
    return {"uniqueid": uid, "calldate": calldate, "call_type": "in", "disposition": "ANSWERED",
            "caller": "380501234567", "duration": 61, "billsec": 50, **extra}  # fmt: skip


@pytest.fixture
def state() -> RingostatState:
    return RingostatState(timezone="Europe/Kyiv", max_rows=4, clock=lambda: NOW)


@pytest.fixture
async def http(state: RingostatState) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(state, auth_key="demo-key", other_project_keys=("foreign",))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rs.test") as client:
        yield client


async def post(http: httpx.AsyncClient, *rows: dict[str, Any]) -> None:
    response = await http.post("/__emulator__/calls", json=list(rows))
    assert response.status_code == 200, response.text


async def ids(http: httpx.AsyncClient, **params: str) -> list[str]:
    response = await http.get("/calls/list", params=params, headers=KEY)
    assert response.status_code == 200, response.text
    return [r["uniqueid"] for r in response.json()]


@pytest.mark.parametrize("headers", [{}, {"Auth-key": "wrong"}, {"Auth-key": ""}])
async def test_missing_or_wrong_key_is_401_with_json_body(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.get("/calls/list", headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == "error"


async def test_key_of_another_project_is_403(http: httpx.AsyncClient) -> None:
    response = await http.get("/calls/list", headers={"Auth-key": "foreign"})
    assert response.status_code == 403
    assert "another project" in response.json()["message"]


async def test_key_in_query_string_is_not_accepted(http: httpx.AsyncClient) -> None:
    response = await http.get("/calls/list", params={"auth_key": "demo-key"})
    assert response.status_code == 401


async def test_from_and_to_are_inclusive_wall_clock(http: httpx.AsyncClient) -> None:
    await post(
        http,
        row("a", "2025-03-28 09:59:59"),
        row("b", "2025-03-28 10:00:00"),
        row("c", "2025-03-28 10:30:00"),
        row("d", "2025-03-28 11:00:00"),
        row("e", "2025-03-28 11:00:01"),
    )
    got = await ids(http, **{"from": "2025-03-28 10:00:00", "to": "2025-03-28 11:00:00"})
    assert got == ["b", "c", "d"]


async def test_default_period_is_the_last_24_hours_by_the_injected_clock(
    http: httpx.AsyncClient,
) -> None:
    # NOW is 2025-03-28 14:00 wall clock in Kyiv.
    await post(
        http,
        row("old", "2025-03-27 13:59:59"),
        row("edge", "2025-03-27 14:00:00"),
        row("recent", "2025-03-28 13:00:00"),
        row("future", "2025-03-28 14:00:01"),
    )
    assert await ids(http) == ["edge", "recent"]


async def test_answers_are_capped_silently(http: httpx.AsyncClient) -> None:
    await post(http, *(row(f"u{i}", f"2025-03-28 10:00:0{i}") for i in range(6)))
    got = await ids(http, **{"from": "2025-03-28 00:00:00", "to": "2025-03-28 23:59:59"})
    assert got == ["u0", "u1", "u2", "u3"]  # max_rows=4, no flag, no next page


async def test_order_desc_and_filters(http: httpx.AsyncClient) -> None:
    await post(http, *(row(f"u{i}", f"2025-03-28 10:00:0{i}") for i in range(3)))
    period = {"from": "2025-03-28 00:00:00", "to": "2025-03-28 23:59:59"}
    assert await ids(http, order="calldate desc", **period) == ["u2", "u1", "u0"]
    assert await ids(http, filters="uniqueid=u1", **period) == ["u1"]
    assert await ids(http, filters="uniqueid=u1,caller=380501234567", **period) == ["u1"]
    assert await ids(http, filters="uniqueid=nope", **period) == []


async def test_fields_project_the_answer(http: httpx.AsyncClient) -> None:
    await post(http, row("a", "2025-03-28 10:00:00", refferrer="https://google.com/"))
    response = await http.get(
        "/calls/list",
        params={"from": "2025-03-28 00:00:00", "fields": "uniqueid,duration,refferrer"},
        headers=KEY,
    )
    assert response.json() == [
        {"uniqueid": "a", "duration": 61, "refferrer": "https://google.com/"}
    ]


@pytest.mark.parametrize(
    "params",
    [{"fields": "uniqueid,bogus_field"}, {"filters": "bogus_field=1"}],
)
async def test_unknown_field_answers_incorrect_field(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await http.get("/calls/list", params=params, headers=KEY)
    assert response.status_code == 400
    assert "incorrect field" in response.json()["message"]
    assert "bogus_field" in response.json()["message"]


@pytest.mark.parametrize(
    "params",
    [{"from": "28.03.2025"}, {"to": "2025-03-28T10:00:00"}, {"order": "uniqueid asc"},
     {"export_type": "xml"}],
)  # fmt: skip
async def test_bad_parameters_are_400(http: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await http.get("/calls/list", params=params, headers=KEY)
    assert response.status_code == 400
    assert response.json()["status"] == "error"


async def test_csv_export_is_semicolon_separated_with_header(http: httpx.AsyncClient) -> None:
    await post(http, row("a", "2025-03-28 10:00:00", caller='"Anna; Ivanova" <anna_sip>'))
    response = await http.get(
        "/calls/list",
        params={"from": "2025-03-28 00:00:00", "fields": "uniqueid,caller,billsec,recording",
                "export_type": "csv"},
        headers=KEY,
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == "uniqueid;caller;billsec;recording"
    parsed = list(csv.reader(io.StringIO(response.text), delimiter=";"))
    assert parsed[1] == ["a", '"Anna; Ivanova" <anna_sip>', "50", ""]


async def test_same_uniqueid_replaces_the_row_and_reset_empties(http: httpx.AsyncClient) -> None:
    await post(http, row("a", "2025-03-28 10:00:00", disposition="IN PROGRESS"))
    await post(http, row("a", "2025-03-28 10:00:00", recording="https://x/a.mp3"))
    period = {"from": "2025-03-28 00:00:00", "to": "2025-03-28 23:59:59"}
    response = await http.get("/calls/list", params=period, headers=KEY)
    [only] = response.json()
    assert only["disposition"] == "ANSWERED"
    assert only["recording"] == "https://x/a.mp3"
    stats = (await http.get("/__emulator__/stats")).json()
    assert stats == {"requests": 1, "calls": 1}
    assert (await http.post("/__emulator__/reset")).status_code == 200
    assert (await http.get("/__emulator__/stats")).json() == {"requests": 0, "calls": 0}


async def test_rows_without_uniqueid_and_with_malformed_dates_are_kept(
    http: httpx.AsyncClient,
) -> None:
    await post(
        http,
        {"calldate": "2025-03-28 10:00:00", "caller": "380501234567"},
        {"uniqueid": "", "calldate": "2025-03-28 10:00:00", "caller": "380501234568"},
        row("iso", "2025-03-28T10:05:00"),
        row("nosec", "2025-03-28 10:06"),
        row("dotted", "28.03.2025 10:07:00"),
        row("garbage", "yesterday"),
    )
    period = {"from": "2025-03-28 10:00:00", "to": "2025-03-28 10:10:00"}
    response = await http.get("/calls/list", params=period, headers=KEY)
    # Five rows fall in the window; max_rows=4 keeps the first four in calldate order.
    assert [r["uniqueid"] for r in response.json()] == [None, "", "iso", "nosec"]
    later = await ids(http, **{"from": "2025-03-28 10:05:00", "to": "2025-03-28 10:10:00"})
    assert later == ["iso", "nosec", "dotted"]
    # An unreadable date is filed at the moment it was posted (NOW = 14:00 Kyiv).
    assert await ids(http, **{"from": "2025-03-28 14:00:00", "to": "2025-03-28 14:00:00"}) == [
        "garbage"
    ]


async def test_admin_calls_rejects_non_arrays(http: httpx.AsyncClient) -> None:
    response = await http.post("/__emulator__/calls", json={"uniqueid": "a"})
    assert response.status_code == 400
