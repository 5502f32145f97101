"""Test harness for the Zoho emulator: a fake clock, a gated sleep, clients, a real server.

Every client made here validates each Zoho CRM answer against the OpenAPI files
(:func:`tests.support.zoho_oas.validating_hook`), so a test cannot read an off-spec body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import uvicorn
from fastapi import FastAPI

from emulators.zoho import ZohoState, create_app, transport
from tests.support.zoho_oas import validating_hook

BASE_URL = "https://zoho.test"
REFRESH_FORM = {
    "grant_type": "refresh_token",
    "client_id": "1000.CLIENT",
    "client_secret": "secret",
    "refresh_token": "1000.refresh",
}


class FakeClock:
    """An aware clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 18, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class GatedSleep:
    """A ``sleep`` that parks callers until :meth:`open` (records the delays asked for)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await self.gate.wait()

    def open(self) -> None:
        self.gate.set()


async def yield_sleep(seconds: float) -> None:
    """A ``sleep`` that only lets other tasks run."""
    await anyio.sleep(0)


def make_app(clock: FakeClock, **kwargs: Any) -> FastAPI:
    return create_app(ZohoState(clock=clock), **kwargs)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport(app),
        base_url=BASE_URL,
        event_hooks={"response": [validating_hook]},
    )


async def login(client: httpx.AsyncClient, **overrides: str) -> str:
    """Mint a token through the emulator and put it on the client; returns the token."""
    response = await client.post("/oauth/v2/token", data={**REFRESH_FORM, **overrides})
    token = str(response.json()["access_token"])
    client.headers["Authorization"] = f"Zoho-oauthtoken {token}"
    return token


def ids(response: httpx.Response) -> list[str]:
    """The record ids of a write answer, in input order (errors give ``""``)."""
    return [
        item["details"].get("id", "") if item["status"] == "success" else ""
        for item in response.json()["data"]
    ]


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on an ephemeral 127.0.0.1 port; yields the base URL.

    The server is stopped on exit (``should_exit``), whatever the test did.
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="critical")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(
            10
        ):  # a safety net for a server that never starts, not a timing check
            while not server.started:
                await anyio.sleep(0)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
