"""What one run works with: settings, the state store, the vendor clients.

Built once at a run's entry (a flow, the receiver, a test) and closed when it ends. The HTTP
clients use the real network transport unless given one (tests pass an in-process transport);
the demo and most tests point the settings at emulators on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import httpx

from models.settings import Settings
from tasks.lease import process_identity
from tasks.ringostat.client import RingostatClient
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.org_slots import OrgSlots
from tasks.zoho.token_store import SharedTokens

USER_AGENT = "callsync/0.1"


def utc_now() -> datetime:
    return datetime.now(UTC)


@cache
def tls_context() -> ssl.SSLContext:
    """The vendors' TLS settings, built once per process: loading the certificate authorities
    costs ~20 ms of CPU, which every run paid twice (both clients) before its first request.
    httpx's defaults (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's bundle)."""
    return httpx.create_ssl_context()


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
        verify=tls_context(),
    )
    ringostat_http = httpx.AsyncClient(
        transport=ringostat_transport,
        timeout=httpx.Timeout(settings.ringostat.timeout_s),
        headers={"User-Agent": USER_AGENT},
        verify=tls_context(),
    )
    store = Store(settings.store.url, tenant=settings.tenant, clock=clock)
    owner = process_identity()
    slots = settings.zoho.org_max_concurrency
    try:
        yield RunContext(
            settings=settings,
            store=store,
            zoho=ZohoClient(
                settings.zoho,
                zoho_http,
                clock=clock,
                tokens=SharedTokens(store, settings.zoho, owner=owner),
                cache=store,
                org_slots=OrgSlots(
                    store,
                    slots=slots,
                    holder=owner,
                    # A killed holder's slot is free again once its request would have timed out.
                    ttl=timedelta(seconds=settings.zoho.timeout_s + 5),
                )
                if slots
                else None,
            ),
            ringostat=RingostatClient(settings.ringostat, ringostat_http),
        )
    finally:
        await zoho_http.aclose()
        await ringostat_http.aclose()
        store.close()
