"""What one run works with: settings, the state store, the vendor clients.

Built once at a run's entry (a flow, the receiver, a test) and closed when it ends. The HTTP
clients use the real network transport unless given one (tests pass an in-process transport);
the demo and most tests point the settings at emulators on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from models.settings import Settings
from tasks.lease import process_identity
from tasks.ringostat.client import RingostatClient
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.token_store import SharedTokens

USER_AGENT = "callsync/0.1"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunContext:
    settings: Settings
    store: Store
    zoho: ZohoClient
    ringostat: RingostatClient


@contextlib.asynccontextmanager
async def open_context(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    zoho_transport: httpx.AsyncBaseTransport | None = None,
    ringostat_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[RunContext]:
    """Open the store and both HTTP clients for one run (``clock``, transports: tests)."""
    zoho_http = httpx.AsyncClient(
        transport=zoho_transport,
        timeout=httpx.Timeout(settings.zoho.timeout_s),
        limits=httpx.Limits(max_connections=settings.zoho.max_concurrency * 2),
        headers={"User-Agent": USER_AGENT},
    )
    ringostat_http = httpx.AsyncClient(
        transport=ringostat_transport,
        timeout=httpx.Timeout(settings.ringostat.timeout_s),
        headers={"User-Agent": USER_AGENT},
    )
    store = Store(settings.store.url, clock=clock)
    try:
        yield RunContext(
            settings=settings,
            store=store,
            zoho=ZohoClient(
                settings.zoho,
                zoho_http,
                clock=clock,
                tokens=SharedTokens(store, settings.zoho, owner=process_identity()),
                cache=store,
            ),
            ringostat=RingostatClient(settings.ringostat, ringostat_http),
        )
    finally:
        await zoho_http.aclose()
        await ringostat_http.aclose()
        store.close()
