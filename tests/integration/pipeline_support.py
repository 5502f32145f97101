"""The steps of a sync run (phone index → plan → ledger → writer) against the Zoho emulator,
without Prefect: enough to test what a run decides and writes, in milliseconds."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from emulators.zoho import ZohoState
from models.settings import Settings, ZohoSettings
from models.tables import CallRecord
from tasks.pipeline import Pipeline, RunContext, RunSummary, StoredCrm
from tasks.pipeline.crm import load_people, refresh_index
from tasks.ringostat.client import RingostatClient
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tests.support.zoho_harness import BASE_URL, FakeClock, client_for, make_app, yield_sleep

NOW = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)
TOP_EMAIL = "admin@callsync-demo.com"


def sync_settings() -> Settings:
    return Settings(
        scenario={"top_manager": TOP_EMAIL, "company_numbers": ["+380441234567"]},
        employees=[{"zoho_user": TOP_EMAIL, "sip": ["top_sip"]}],
    )


def inbound(uid: str, caller: str, disposition: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "uniqueid": uid,
        "calldate": f"2026-01-18 10:{minute:02d}:00",
        "call_type": "in",
        "disposition": disposition,
        "caller": caller,
        "duration": 60,
        "billsec": 50 if disposition == "ANSWERED" else 0,
        **extra,
    }


class Org:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.app = make_app(self.clock, sleep=yield_sleep)
        self.state: ZohoState = self.app.state.zoho

    def client(self, http: httpx.AsyncClient) -> ZohoClient:
        settings = ZohoSettings(
            accounts_url=BASE_URL,
            api_domain=BASE_URL,
            client_id=SecretStr("1000.client"),
            client_secret=SecretStr("secret"),
            refresh_token=SecretStr("1000.refresh"),
        )
        return ZohoClient(settings, http, sleep=yield_sleep, clock=self.clock, rng=random.Random(3))


@pytest.fixture
async def org() -> AsyncIterator[tuple[Org, httpx.AsyncClient]]:
    o = Org()
    async with client_for(o.app) as http:
        yield o, http


async def sync_steps(
    client: ZohoClient, store: Store, rows: Sequence[dict[str, Any]]
) -> RunSummary:
    """The pipeline over ``rows`` (ingested first), its calls in one chunk."""
    settings = sync_settings()
    store.ingest(rows, run_id="run")
    unused = RingostatClient(settings.ringostat, httpx.AsyncClient())  # no call log read here
    pipeline = Pipeline(RunContext(settings, store, client, unused))
    people = await load_people(client, store, settings)
    await refresh_index(client, store, settings, people)
    summary = await pipeline.process(store.work(), StoredCrm(store, people), now=NOW, run_id="run")
    assert not summary.quarantined
    return summary


def rows_and_statuses(store: Store) -> dict[str, tuple[int | None, str | None]]:
    with Session(store.engine) as session:
        calls = session.exec(select(CallRecord)).all()
    assert {c.status for c in calls} == {"synced"}
    return {c.uniqueid: (c.scenario_row, c.client_status) for c in calls}


async def dump(http: httpx.AsyncClient) -> dict[str, list[dict[str, Any]]]:
    answer: dict[str, list[dict[str, Any]]] = (await http.get("/__emulator__/dump")).json()
    return answer


def lead_keys(dump: dict[str, list[dict[str, Any]]]) -> Counter[str]:
    return Counter(str(r.get("rs_sync_key")) for r in dump["Leads"])
