"""Both vendor clients back off through the one helper (tasks.vendor.backoff) and, when their
retries run out, raise the one retriable error (tasks.vendor.errors): each client against its
emulator, behind a transport that fails its first API requests, with a recording sleep."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr

from emulators import ringostat as ringostat_emulator
from emulators import zoho as zoho_emulator
from models.settings import RingostatSettings, ZohoSettings
from tasks.ringostat.client import RingostatClient
from tasks.vendor.backoff import Backoff, Jitter
from tasks.vendor.errors import RetriableError
from tasks.zoho.client import ZohoClient

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)
BASE_S, MAX_S, SEED = 1.0, 3.0, 11


class Recorder:
    """The clients' sleep: records each delay, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FailFirst(httpx.AsyncBaseTransport):
    """Answers 503 to the first ``times`` requests under ``path``, then forwards to ``inner``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str, times: int) -> None:
        self.inner, self.path, self.left = inner, path, times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith(self.path) and self.left > 0:
            self.left -= 1
            return httpx.Response(503, json={"code": "INTERNAL_ERROR", "message": "busy"})
        return await self.inner.handle_async_request(request)


@dataclass(frozen=True)
class Vendor:
    """One client, reading once through a transport that fails ``fail`` times first."""

    jitter: Jitter
    log_prefix: str
    read: Callable[[int, Recorder, int], Awaitable[object]]


async def _zoho_read(fail: int, sleep: Recorder, retries: int) -> object:
    app = zoho_emulator.create_app(zoho_emulator.ZohoState(clock=lambda: NOW))
    flaky = FailFirst(zoho_emulator.transport(app), "/crm/", fail)
    settings = ZohoSettings(
        accounts_url="https://zoho.test",
        api_domain="https://zoho.test",
        client_id=SecretStr("1000.client"),
        client_secret=SecretStr("secret"),
        refresh_token=SecretStr("1000.refresh"),
        max_retries=retries,
        backoff_base_s=BASE_S,
        backoff_max_s=MAX_S,
    )
    async with httpx.AsyncClient(transport=flaky) as http:
        client = ZohoClient(settings, http, sleep=sleep, clock=lambda: NOW, rng=random.Random(SEED))
        return await client.users()


async def _ringostat_read(fail: int, sleep: Recorder, retries: int) -> object:
    kyiv = ZoneInfo("Europe/Kyiv")
    app = ringostat_emulator.create_app(
        ringostat_emulator.RingostatState(timezone="Europe/Kyiv", clock=lambda: NOW)
    )
    flaky = FailFirst(httpx.ASGITransport(app=app), "/calls/", fail)
    settings = RingostatSettings(
        base_url="http://ringostat.test",
        auth_key=SecretStr("demo-key"),
        timezone="Europe/Kyiv",
        max_retries=retries,
    )
    async with httpx.AsyncClient(transport=flaky) as http:
        client = RingostatClient(
            settings,
            http,
            sleep=sleep,
            rng=random.Random(SEED),
            backoff_base_s=BASE_S,
            backoff_max_s=MAX_S,
        )
        day = datetime(2026, 1, 17, tzinfo=kyiv)
        return await client.fetch_window(day, day + timedelta(days=1))


VENDORS = {
    # Zoho's 429 is a crowd in flight (full jitter), Ringostat's failures are slowness (equal).
    "zoho": Vendor("full", "Zoho GET /crm/v8/users: ", _zoho_read),
    "ringostat": Vendor("equal", "Ringostat request failed (", _ringostat_read),
}


@pytest.mark.parametrize("name", VENDORS)
async def test_the_client_waits_the_shared_helpers_schedule(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = VENDORS[name]
    sleep = Recorder()
    with caplog.at_level("WARNING", logger="tasks.vendor.backoff"):
        await vendor.read(3, sleep, 5)
    schedule = Backoff(BASE_S, MAX_S, jitter=vendor.jitter, rng=random.Random(SEED))
    assert sleep.delays == [schedule.delay(n) for n in range(3)]
    retries = [r.getMessage() for r in caplog.records if r.name == "tasks.vendor.backoff"]
    assert len(retries) == 3
    assert all(m.startswith(vendor.log_prefix) for m in retries), retries
    assert [m.split("; retry ")[1].split(" in ")[0] for m in retries] == [
        "1 of 5",
        "2 of 5",
        "3 of 5",
    ]


@pytest.mark.parametrize("name", VENDORS)
async def test_retries_run_out_into_the_shared_retriable_error(name: str) -> None:
    vendor = VENDORS[name]
    sleep = Recorder()
    with pytest.raises(RetriableError) as caught:
        await vendor.read(10, sleep, 2)
    assert caught.value.status == 503
    assert len(sleep.delays) == 2
