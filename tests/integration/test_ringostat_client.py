"""RingostatClient against the Ringostat emulator, in process (httpx.ASGITransport)."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr

from emulators.ringostat import RingostatState, create_app
from models.settings import RingostatSettings
from tasks.ringostat import (
    AccessDenied,
    AuthError,
    FatalError,
    IncorrectFieldError,
    RetriableError,
    RingostatClient,
    WindowTooDenseError,
)

pytestmark = pytest.mark.anyio

KYIV = ZoneInfo("Europe/Kyiv")
BASE = "http://ringostat.test"
DAY = datetime(2025, 3, 28, tzinfo=KYIV)


def settings(**overrides: Any) -> RingostatSettings:
    values: dict[str, Any] = {
        "base_url": BASE,
        "auth_key": SecretStr("demo-key"),
        "timezone": "Europe/Kyiv",
        "max_retries": 3,
    }
    values.update(overrides)
    return RingostatSettings(**values)


def call(uid: str, calldate: str, **extra: Any) -> dict[str, Any]:
    return {
        "uniqueid": uid,
        "calldate": calldate,
        "call_type": "in",
        "disposition": "ANSWERED",
        "caller": "380501234567",
        "dst": "380441234567",
        "duration": 75,
        "billsec": 60,
        "recording": f"https://app.ringostat.com/recordings/{uid}.mp3",
        "has_recording": 1,
        **extra,
    }


def wall(moment: datetime) -> str:
    return moment.astimezone(KYIV).strftime("%Y-%m-%d %H:%M:%S")


class Recorder:
    """An injected sleep that only records how long it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Harness:
    def __init__(self, state: RingostatState, transport: httpx.AsyncBaseTransport) -> None:
        self.state = state
        self.transport = transport
        self.sleep = Recorder()
        self.http = httpx.AsyncClient(transport=transport)

    def client(self, **kwargs: Any) -> RingostatClient:
        overrides = kwargs.pop("settings", {})
        return RingostatClient(
            settings(**overrides), self.http, sleep=self.sleep, rng=random.Random(1), **kwargs
        )


@pytest.fixture
def state() -> RingostatState:
    return RingostatState(timezone="Europe/Kyiv", clock=lambda: DAY + timedelta(days=2))


@pytest.fixture
async def harness(state: RingostatState) -> AsyncIterator[Harness]:
    app = create_app(state, auth_key="demo-key", other_project_keys=("other-project-key",))
    h = Harness(state, httpx.ASGITransport(app=app))
    async with h.http:
        yield h


async def test_a_day_of_20000_calls_is_read_completely_through_the_cap(harness: Harness) -> None:
    # One call every 4.32 s, 6,500 rows an answer: each full answer is kept and the window read
    # on from its last row's second (that row comes again): 6,500 + 6,499 + 6,499 + 503 rows,
    # 4 requests (at most ⌈rows ÷ cap⌉ + 1).
    rows = [
        call(f"ua-{i:05d}", wall(DAY + timedelta(seconds=i * 86400 / 20000))) for i in range(20000)
    ]
    harness.state.upsert(rows)
    client = harness.client()
    got = await client.fetch_window(DAY, DAY + timedelta(days=1) - timedelta(seconds=1))
    ids = [r["uniqueid"] for r in got]
    assert len(ids) == len(set(ids)) == 20000
    assert set(ids) == {r["uniqueid"] for r in rows}
    assert [r["calldate"] for r in got] == sorted(r["calldate"] for r in got)
    assert harness.state.requests == client.requests_made == 4


async def test_calls_in_progress_come_back_final_and_the_newest_read_wins(
    harness: Harness,
) -> None:
    harness.state.upsert(
        [
            call("ua-1", "2025-03-28 10:00:00", disposition="IN PROGRESS", billsec=0,
                 duration=0, recording="", has_recording=0),
            call("ua-2", "2025-03-28 10:01:00", disposition="CALLING", billsec=0, duration=0,
                 recording="", has_recording=0),
        ]
    )  # fmt: skip
    client = harness.client()
    window = (DAY + timedelta(hours=9), DAY + timedelta(hours=11))
    first = {r["uniqueid"]: r for r in await client.fetch_window(*window)}
    assert first["ua-1"]["disposition"] == "IN PROGRESS"
    assert first["ua-2"]["disposition"] == "CALLING"

    harness.state.upsert(
        [
            call("ua-1", "2025-03-28 10:00:00", duration=310, billsec=290),
            call("ua-2", "2025-03-28 10:01:00", disposition="NO+ANSWER", billsec=0,
                 duration=40, recording="", has_recording=0),
        ]
    )  # fmt: skip
    second = {r["uniqueid"]: r for r in await client.fetch_window(*window)}
    assert second["ua-1"]["disposition"] == "ANSWERED"
    assert (second["ua-1"]["billsec"], second["ua-1"]["duration"]) == ("290", "310")
    assert second["ua-2"]["disposition"] == "NO+ANSWER"
    assert len(second) == 2


async def test_a_row_read_twice_within_one_window_keeps_the_last_read(
    state: RingostatState,
) -> None:
    """The call changes between two reads of one window (answers full at 2 rows): the later
    read wins."""
    state.max_rows = 2
    state.upsert(
        [
            call("ua-1", "2025-03-28 06:00:00", disposition="IN PROGRESS", recording=""),
            call("ua-2", "2025-03-28 07:00:00"),
            call("ua-3", "2025-03-28 18:00:00"),
        ]
    )
    app = create_app(state)
    inner = httpx.ASGITransport(app=app)

    class Mutating(httpx.AsyncBaseTransport):
        """After the first read, the call is finalized and its calldate corrected."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            if request.url.params["from"] == "2025-03-28 00:00:00" and state.requests == 1:
                state.upsert([call("ua-1", "2025-03-28 17:00:00")])
            return response

    async with httpx.AsyncClient(transport=Mutating()) as http:
        client = RingostatClient(settings(max_rows_per_request=2), http, sleep=Recorder())
        got = await client.fetch_window(DAY, DAY + timedelta(hours=23))
    by_id = Counter(r["uniqueid"] for r in got)
    assert by_id == {"ua-1": 1, "ua-2": 1, "ua-3": 1}
    [final] = [r for r in got if r["uniqueid"] == "ua-1"]
    assert final["disposition"] == "ANSWERED"
    assert final["calldate"] == "2025-03-28 17:00:00"


async def test_a_row_with_an_odd_calldate_does_not_stop_reading_on(state: RingostatState) -> None:
    """A calldate in another format (quarantined later) is left out of the order check."""
    state.max_rows = 3
    state.upsert(
        [
            call("ua-1", "2025-03-28 06:00:00"),
            call("ua-x", "28.03.2025 06:30:00"),
            call("ua-2", "2025-03-28 07:00:00"),
            call("ua-3", "2025-03-28 18:00:00"),
        ]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state))) as http:
        client = RingostatClient(settings(max_rows_per_request=3), http, sleep=Recorder())
        got = await client.fetch_window(DAY, DAY + timedelta(hours=23))
    assert sorted(r["uniqueid"] for r in got) == ["ua-1", "ua-2", "ua-3", "ua-x"]
    assert client.requests_made == 2  # read on from 07:00, not split


async def test_a_full_answer_out_of_calldate_order_is_split_instead(
    state: RingostatState,
) -> None:
    """Reading on from the last row is only safe in calldate order. A server that answers
    newest first ([ua-3, ua-2] of three rows) would make "read on from 07:00" miss ua-1: such an
    answer is split in halves instead."""
    state.max_rows = 2
    state.upsert(
        [
            call("ua-1", "2025-03-28 06:00:00"),
            call("ua-2", "2025-03-28 07:00:00"),
            call("ua-3", "2025-03-28 18:00:00"),
        ]
    )
    inner = httpx.ASGITransport(app=create_app(state))

    class NewestFirst(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            url = request.url.copy_set_param("order", "calldate desc")
            return await inner.handle_async_request(
                httpx.Request(request.method, url, headers=request.headers)
            )

    async with httpx.AsyncClient(transport=NewestFirst()) as http:
        client = RingostatClient(settings(max_rows_per_request=2), http, sleep=Recorder())
        got = await client.fetch_window(DAY, DAY + timedelta(hours=23))
    assert sorted(r["uniqueid"] for r in got) == ["ua-1", "ua-2", "ua-3"]


async def test_a_late_recording_is_an_update_of_the_same_call(harness: Harness) -> None:
    harness.state.upsert([call("ua-7", "2025-03-28 12:00:00", recording="", has_recording=0)])
    client = harness.client()
    window = (DAY + timedelta(hours=11), DAY + timedelta(hours=13))
    [before] = await client.fetch_window(*window)
    assert (before["recording"], before["has_recording"]) == ("", "0")
    harness.state.upsert([call("ua-7", "2025-03-28 12:00:00")])
    [after] = await client.fetch_window(*window)
    assert after["recording"] == "https://app.ringostat.com/recordings/ua-7.mp3"
    assert after["has_recording"] == "1"


async def test_consecutive_windows_share_their_boundary_second(harness: Harness) -> None:
    harness.state.upsert([call("edge", "2025-03-28 12:00:00")])
    client = harness.client()
    boundary = DAY + timedelta(hours=12)
    left = await client.fetch_window(DAY, boundary)
    right = await client.fetch_window(boundary, DAY + timedelta(hours=20))
    assert [r["uniqueid"] for r in left] == [r["uniqueid"] for r in right] == ["edge"]


@pytest.mark.parametrize("key", ["wrong-key", ""])
async def test_a_wrong_key_is_an_auth_error_naming_the_setting(
    harness: Harness, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = harness.client(settings={"auth_key": SecretStr(key)})
    with pytest.raises(AuthError) as caught:
        await client.fetch_window(DAY, DAY + timedelta(hours=1))
    message = str(caught.value)
    assert "ringostat.auth_key" in message
    assert "CALLSYNC_RINGOSTAT__AUTH_KEY" in message
    assert caught.value.status_code == 401
    assert harness.state.requests == 1  # a 401 is not retried
    if key:
        assert key not in message
        assert key not in caplog.text


async def test_a_key_of_another_project_is_access_denied(harness: Harness) -> None:
    client = harness.client(settings={"auth_key": SecretStr("other-project-key")})
    with pytest.raises(AccessDenied) as caught:
        await client.fetch_window(DAY, DAY + timedelta(hours=1))
    message = str(caught.value)
    assert "another Ringostat project" in message
    assert "other-project-key" not in message
    assert harness.state.requests == 1


async def test_csv_and_json_answers_parse_to_the_same_rows(harness: Harness) -> None:
    harness.state.upsert(
        [
            call("ua-1", "2025-03-28 10:00:00", caller='"Anna; Ivanova" <anna_sip>',
                 landing="https://shop.example/?a=1;b=2", employee_fio="Анна Іваненко",
                 utm_source=None, billsec=0.0),
            call("ua-2", "2025-03-28 10:00:05", has_recording=True, duration="75"),
            {"calldate": "2025-03-28 10:00:07", "caller": "anonymous"},
        ]
    )  # fmt: skip
    window = (DAY, DAY + timedelta(days=1))
    as_json = await harness.client(export_type="json").fetch_window(*window)
    as_csv = await harness.client(export_type="csv").fetch_window(*window)
    assert as_json == as_csv
    assert len(as_json) == 3
    assert as_json[0]["caller"] == '"Anna; Ivanova" <anna_sip>'
    assert as_json[0]["billsec"] == "0.0"
    assert as_json[0]["utm_source"] == ""
    assert as_json[1]["has_recording"] == "1"
    assert as_json[2]["uniqueid"] == ""


async def test_an_unknown_field_is_a_fatal_error_naming_it(harness: Harness) -> None:
    client = harness.client(fields=("uniqueid", "calldate", "no_such_field"))
    with pytest.raises(IncorrectFieldError) as caught:
        await client.fetch_window(DAY, DAY + timedelta(hours=1))
    assert caught.value.field == "no_such_field"
    assert isinstance(caught.value, FatalError)
    assert harness.state.requests == 1


def flaky(
    inner: httpx.AsyncBaseTransport, failures: list[Callable[[httpx.Request], httpx.Response]]
) -> httpx.AsyncBaseTransport:
    """A transport that answers with the given failures first, then lets requests through."""

    class Flaky(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if failures:
                return failures.pop(0)(request)
            return await inner.handle_async_request(request)

    return Flaky()


def status(code: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, headers=headers, json={"error": "busy"})


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("server disconnected", request=request)


async def test_transient_failures_are_retried_with_backoff_through_the_injected_sleep(
    harness: Harness,
) -> None:
    harness.state.upsert([call("ua-1", "2025-03-28 10:00:00")])
    failures = [status(503), timeout, status(429, **{"Retry-After": "7"})]
    transport = flaky(harness.transport, failures)
    sleep = Recorder()
    async with httpx.AsyncClient(transport=transport) as http:
        client = RingostatClient(settings(max_retries=3), http, sleep=sleep, rng=random.Random(3))
        got = await client.fetch_window(DAY, DAY + timedelta(days=1))
    assert [r["uniqueid"] for r in got] == ["ua-1"]
    assert client.requests_made == 4
    assert len(sleep.delays) == 3
    assert 0.25 <= sleep.delays[0] <= 0.5  # equal jitter around 0.5 s * 2**0
    assert 0.5 <= sleep.delays[1] <= 1.0
    assert sleep.delays[2] >= 7  # Retry-After is a floor


async def test_retries_run_out_into_a_retriable_error(harness: Harness) -> None:
    transport = flaky(harness.transport, [status(502), dropped, status(500)])
    sleep = Recorder()
    async with httpx.AsyncClient(transport=transport) as http:
        client = RingostatClient(settings(max_retries=2), http, sleep=sleep)
        with pytest.raises(RetriableError) as caught:
            await client.fetch_window(DAY, DAY + timedelta(days=1))
    assert caught.value.status_code == 500
    assert client.requests_made == 3
    assert len(sleep.delays) == 2


async def test_a_client_error_is_not_retried(harness: Harness) -> None:
    transport = flaky(harness.transport, [status(400)])
    sleep = Recorder()
    async with httpx.AsyncClient(transport=transport) as http:
        client = RingostatClient(settings(), http, sleep=sleep)
        with pytest.raises(FatalError) as caught:
            await client.fetch_window(DAY, DAY + timedelta(days=1))
    assert caught.value.status_code == 400
    assert sleep.delays == []


async def test_one_second_holding_the_cap_fails_clearly_instead_of_looping(
    state: RingostatState,
) -> None:
    state.max_rows = 3
    state.upsert([call(f"ua-{i}", "2025-03-28 10:00:00") for i in range(3)])
    state.upsert([call("ua-other", "2025-03-28 11:00:00")])
    app = create_app(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        client = RingostatClient(settings(max_rows_per_request=3), http, sleep=Recorder())
        with pytest.raises(WindowTooDenseError, match="2025-03-28 10:00:00"):
            await client.fetch_window(DAY, DAY + timedelta(days=1))
    # Bisection of one day down to one second: about log2(86400) ≈ 17 levels, two reads each.
    assert client.requests_made < 40


async def test_a_window_across_the_dst_fall_back_reads_the_repeated_hour(harness: Harness) -> None:
    # 2025-10-26 04:00 EEST becomes 03:00 EET in Kyiv (01:00 UTC): 03:00-03:59 happens twice.
    harness.state.upsert(
        [
            call("before", "2025-10-26 02:59:59"),
            call("repeated", "2025-10-26 03:30:00"),
            call("after", "2025-10-26 04:00:00"),
        ]
    )
    client = harness.client()
    # 00:45-01:15 UTC is 03:45 EEST .. 03:15 EET on the wall clock.
    start = datetime(2025, 10, 26, 0, 45, tzinfo=UTC)
    got = await client.fetch_window(start, start + timedelta(minutes=30))
    assert [r["uniqueid"] for r in got] == ["repeated"]


async def test_window_times_are_sent_as_wall_clock_in_the_configured_zone() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = RingostatClient(settings(), http, sleep=Recorder())
        await client.fetch_window(
            datetime(2025, 7, 1, 6, 0, 0, 900000, tzinfo=UTC),
            datetime(2025, 7, 1, 7, 30, tzinfo=UTC),
        )
    [request] = seen
    assert request.url.path == "/calls/list"
    assert request.url.params["from"] == "2025-07-01 09:00:00"  # UTC+3 in summer, floored
    assert request.url.params["to"] == "2025-07-01 10:30:00"
    assert request.url.params["order"] == "calldate asc"
    assert request.headers["Auth-key"] == "demo-key"
    assert "demo-key" not in str(request.url)


async def test_naive_or_inverted_windows_are_refused(harness: Harness) -> None:
    client = harness.client()
    with pytest.raises(ValueError, match="aware"):
        await client.fetch_window(datetime(2025, 3, 28), DAY)  # noqa: DTZ001
    with pytest.raises(ValueError, match="before its start"):
        await client.fetch_window(DAY, DAY - timedelta(seconds=1))
    assert harness.state.requests == 0


@pytest.mark.parametrize("body", ["<html>oops</html>", "", '{"rows": []}'])
async def test_a_success_body_that_is_not_a_call_list_is_retried_then_raised(body: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text=body))
    ) as http:
        sleep = Recorder()
        client = RingostatClient(settings(), http, sleep=sleep)
        with pytest.raises(RetriableError, match="not a JSON array of calls"):
            await client.fetch_window(DAY, DAY + timedelta(hours=1))
        assert client.requests_made == settings().max_retries + 1
