"""A running webhook receiver against the Zoho emulator, both on 127.0.0.1, for the tests.

Waiting is done on handled events (the processor reports each one into a queue), never by
sleeping: ``Harness.wait(n)`` blocks until ``n`` more events were handled.
"""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.listen import receiver_parts
from models.settings import Settings, load_settings
from tasks.pipeline.crm_watch import Notification
from tasks.pipeline.webhooks import Handled
from tasks.store import Store
from tasks.webhooks.inbox import Inbox
from tasks.webhooks.receiver import Parts, create_receiver

TOKEN = "s3cret-webhook-token"
TOP, ANNA, BORIS = "5000000000000001001", "5000000000000001002", "5000000000000001003"
EXISTING_LEAD = "5000000000000002001"


def _user(uid: str, email: str, name: str, role: str = "Manager") -> dict[str, Any]:
    first, last = name.split()
    return {
        "id": uid,
        "email": email,
        "full_name": name,
        "first_name": first,
        "last_name": last,
        "status": "active",
        "role": {"name": role, "id": f"9{uid[-4:]}"},
        "profile": {"name": "Standard", "id": "7000000000000000001"},
        "time_zone": "Europe/Kiev",
    }


TOP_ONLY: dict[str, Any] = {"users": [_user(TOP, "top@acme.test", "Tamara Top", "CEO")]}
"""An org with its TOP manager alone (every lead and task is theirs)."""

SEED: dict[str, Any] = {
    "users": [
        _user(TOP, "top@acme.test", "Tamara Top"),
        _user(ANNA, "anna@acme.test", "Anna Ivanova"),
        _user(BORIS, "boris@acme.test", "Boris Bondar"),
    ],
    "Leads": [
        {
            "id": EXISTING_LEAD,
            "Last_Name": "Petrenko",
            "Phone": "+380671111111",
            "Owner": {"id": ANNA},
        }
    ],
}


def config(
    tmp_path: Path, zoho_url: str, store_url: str | None = None, **webhook: Any
) -> dict[str, Any]:
    return {
        "zoho": {
            "accounts_url": zoho_url,
            "api_domain": zoho_url,
            "client_id": "cid",
            "client_secret": "secret",
            "refresh_token": "refresh",
            "backoff_base_s": 0.0,
            "backoff_max_s": 0.0,
            "max_concurrency": 10,
        },
        "ringostat": {"base_url": "http://127.0.0.1:9", "auth_key": "k", "timezone": "Europe/Kyiv"},
        "scenario": {
            "top_manager": "top@acme.test",
            "company_timezone": "Europe/Kyiv",
            "company_numbers": ["+380441234567"],
        },
        "employees": [
            {"zoho_user": "anna@acme.test", "sip": ["anna_sip"]},
            {"zoho_user": "boris@acme.test", "sip": ["boris_sip"]},
        ],
        "store": {
            "url": store_url or f"sqlite:///{tmp_path / 'state.db'}",
            "duckdb_path": str(tmp_path / "reports.duckdb"),
            "data_docs_dir": str(tmp_path / "docs"),
        },
        "webhook": {"token": TOKEN, **webhook},
    }


def pickup(uid: str, phone: str, sip: str = "anna_sip", **extra: str) -> dict[str, str]:
    return {
        "uniqueid": uid,
        "caller": phone,
        "calldate": "2026-03-02 10:00:00",
        "connected_with": sip,
        "utm_source": "google",
        "utm_medium": "cpc",
        **extra,
    }


@dataclass
class Receiver:
    """A receiver served by uvicorn on 127.0.0.1; ``handled`` gets every event it handled,
    ``notified`` every Zoho notification it applied (with how many records changed)."""

    url: str
    server: BackgroundServer
    handled: queue.Queue[Handled]
    notified: queue.Queue[tuple[Notification, int]] = field(default_factory=queue.Queue)

    def wait(self, n: int, *, timeout: float = 60.0) -> list[Handled]:
        """Block until ``n`` more events were handled (not a sleep: a queue wait)."""
        return [self.handled.get(timeout=timeout) for _ in range(n)]


@contextmanager
def receiver(
    settings: Settings,
    *,
    process: bool = True,
    handled: queue.Queue[Handled] | None = None,
    port: int = 0,
) -> Iterator[Receiver]:
    """``callsync listen``'s app (processor reporting into ``handled``); ``process=False``
    stores events without handling them."""
    out: queue.Queue[Handled] = handled if handled is not None else queue.Queue()
    notified: queue.Queue[tuple[Notification, int]] = queue.Queue()

    @asynccontextmanager
    async def parts() -> AsyncIterator[Parts]:
        async with receiver_parts(
            settings, emit=out.put, on_notification=lambda n, c: notified.put((n, c))
        ) as (inbox, processor):
            yield inbox, (processor if process else None)

    app = create_receiver(settings, parts)
    with BackgroundServer(app, lifespan="on", port=port) as server:
        yield Receiver(server.url, server, out, notified)


def inbox_counts(settings: Settings) -> dict[str, int]:
    with Store(settings.store.url) as store:
        return Inbox(store).counts()


@dataclass
class ZohoWorld:
    url: str
    http: httpx.Client
    tmp_path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    store_url: str | None = None
    """The state store (default: a SQLite file in ``tmp_path``)."""

    def settings(self, scenario: dict[str, Any] | None = None, **webhook: Any) -> Settings:
        values = config(self.tmp_path, self.url, self.store_url, **webhook)
        values["scenario"].update(scenario or {})
        return load_settings(overrides=values)

    def faults(self, **faults: Any) -> None:
        self.http.put(f"{self.url}/__emulator__/faults", json=faults).raise_for_status()

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        answer: dict[str, list[dict[str, Any]]] = self.http.get(
            f"{self.url}/__emulator__/dump"
        ).json()
        return answer


@contextmanager
def zoho_world(tmp_path: Path, store_url: str | None = None) -> Iterator[ZohoWorld]:
    with BackgroundServer(create_zoho()) as zoho, httpx.Client(timeout=30) as http:
        http.post(f"{zoho.url}/__emulator__/seed", json=SEED).raise_for_status()
        yield ZohoWorld(zoho.url, http, tmp_path, store_url=store_url)
