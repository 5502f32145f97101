"""SPEC 12: a record a call created itself never makes that call's caller "existing".

The steps of a sync (phone index → plan → ledger → writer) against the Zoho emulator, without
Prefect. A run killed right after a call's lead reached Zoho (before the answer was bookkept), or
a lead the real-time receiver created at pickup with the same ``rs_sync_key``, must give the same
scenario rows and client statuses as a clean run, and reuse that lead instead of making another.
"""

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
from tasks.calls import parse_rows
from tasks.crm_sync import load_users, refresh_crm
from tasks.scenario import plan_calls
from tasks.store import Store, WriteOutcome
from tasks.zoho.client import ZohoClient
from tasks.zoho.writer import execute_plans
from tests.support.zoho_harness import BASE_URL, FakeClock, client_for, make_app, yield_sleep

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)
TOP_EMAIL = "admin@callsync-demo.com"


def _row(uid: str, caller: str, disposition: str, minute: int, **extra: Any) -> dict[str, Any]:
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


# Rows 1, 2, 6 and 8 (new callers) and a second call of the row-1 caller (existing: row 3).
CALLS = [
    _row("c-row1", "+380501110001", "ANSWERED", 1, connected_with="top_sip"),
    _row("c-row2", "+380501110002", "ANSWERED", 2, connected_with="stranger_sip"),
    _row("c-row6", "+380501110006", "NO ANSWER", 3),
    _row("c-row8", "+380501110008", "VOICEMAIL", 4),
    _row("c-again", "+380501110001", "ANSWERED", 9, connected_with="top_sip"),
]
EXPECTED = {
    "c-row1": (1, "new"),
    "c-row2": (2, "new"),
    "c-row6": (6, "new"),
    "c-row8": (8, "new"),
    "c-again": (3, "existing"),
}


def _settings() -> Settings:
    return Settings(
        scenario={"top_manager": TOP_EMAIL, "company_numbers": ["+380441234567"]},
        employees=[{"zoho_user": TOP_EMAIL, "sip": ["top_sip"]}],
    )


class Killed(BaseException):
    """The process died here (nothing catches a BaseException on the way up)."""


class CrashingStore(Store):
    """A store whose process dies when it is about to bookkeep a lead Zoho has just created."""

    armed = False

    def record_results(self, outcomes: Sequence[WriteOutcome]) -> None:
        if self.armed and any(o.sync_key.endswith("/lead") for o in outcomes):
            self.armed = False
            raise Killed
        super().record_results(outcomes)


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


async def _sync(client: ZohoClient, store: Store, rows: Sequence[dict[str, Any]]) -> None:
    settings = _settings()
    store.ingest(rows, run_id="run")
    users, top = await load_users(client, settings)
    crm = await refresh_crm(client, store, settings, users, top)
    calls, rejected = parse_rows(store.work(), settings)
    assert not rejected
    plans = plan_calls(calls, crm.snapshot, crm.employees, settings, now=NOW)
    store.record_calls(calls, plans, run_id="run")
    await execute_plans(plans, client, store)


def _rows_and_statuses(store: Store) -> dict[str, tuple[int | None, str | None]]:
    with Session(store.engine) as session:
        calls = session.exec(select(CallRecord)).all()
    assert {c.status for c in calls} == {"synced"}
    return {c.uniqueid: (c.scenario_row, c.client_status) for c in calls}


async def _dump(http: httpx.AsyncClient) -> dict[str, list[dict[str, Any]]]:
    answer: dict[str, list[dict[str, Any]]] = (await http.get("/__emulator__/dump")).json()
    return answer


def _lead_keys(dump: dict[str, list[dict[str, Any]]]) -> Counter[str]:
    return Counter(str(r.get("rs_sync_key")) for r in dump["Leads"])


async def test_clean_run(org: tuple[Org, httpx.AsyncClient]) -> None:
    o, http = org
    with Store("sqlite://", clock=o.clock) as store:
        await _sync(o.client(http), store, CALLS)
        assert _rows_and_statuses(store) == EXPECTED
    assert sorted(_lead_keys(await _dump(http)).values()) == [1, 1, 1, 1]


@pytest.mark.parametrize("victim", ["c-row1", "c-row2", "c-row6", "c-row8"])
async def test_a_crash_between_the_lead_and_its_bookkeeping_relabels_nothing(
    org: tuple[Org, httpx.AsyncClient], victim: str
) -> None:
    """Killed after the call's lead reached Zoho, before the ledger knew: the next run finds
    that lead in the phone index and must still see a new caller, and reuse the lead."""
    o, http = org
    with CrashingStore("sqlite://", clock=o.clock) as store:
        first = [r for r in CALLS if r["uniqueid"] == victim]
        store.armed = True
        with pytest.raises(Killed):
            await _sync(o.client(http), store, first)
        assert _lead_keys(await _dump(http)) == {f"{victim}/lead": 1}

        o.clock.advance(minutes=5)
        await _sync(o.client(http), store, CALLS)
        assert _rows_and_statuses(store) == EXPECTED
        lead_id = store.ledger([f"{victim}/lead"])[f"{victim}/lead"].zoho_id
    dump = await _dump(http)
    assert sorted(_lead_keys(dump).values()) == [1, 1, 1, 1]
    (lead,) = [r for r in dump["Leads"] if r["rs_sync_key"] == f"{victim}/lead"]
    assert lead["id"] == lead_id
    # the call's tasks hang on that same lead
    tasks = [t for t in dump["Tasks"] if str(t["rs_sync_key"]).startswith(f"{victim}/")]
    assert tasks and all(t["What_Id"]["id"] == lead_id for t in tasks)


async def test_a_lead_created_at_pickup_keeps_the_call_new_and_is_reused(
    org: tuple[Org, httpx.AsyncClient],
) -> None:
    """The real-time receiver created ``c-row1/lead`` at pickup (same key, same fields): the log
    sync reports the call as row 1 with a new client and sends no second lead."""
    o, http = org
    top = next(u for u in o.state.users.values() if u["email"] == TOP_EMAIL)
    seeded = await http.post(
        "/__emulator__/seed",
        json={
            "Leads": [
                {
                    "Last_Name": "+380501110001",
                    "Phone": "+380501110001",
                    "Owner": {"id": top["id"]},
                    "rs_sync_key": "c-row1/lead",
                }
            ]
        },
    )
    seeded.raise_for_status()
    before = await _dump(http)
    (pickup_lead,) = before["Leads"]
    with Store("sqlite://", clock=o.clock) as store:
        client = o.client(http)
        await _sync(client, store, CALLS)
        assert _rows_and_statuses(store) == EXPECTED
        assert store.ledger(["c-row1/lead"])["c-row1/lead"].zoho_id == pickup_lead["id"]
    dump = await _dump(http)
    assert sorted(_lead_keys(dump).values()) == [1, 1, 1, 1]


async def test_another_calls_lead_makes_the_caller_existing(
    org: tuple[Org, httpx.AsyncClient],
) -> None:
    """The rule is about the call's *own* records: a lead another call created still counts."""
    o, http = org
    with Store("sqlite://", clock=o.clock) as store:
        await _sync(o.client(http), store, CALLS[:1])
        o.clock.advance(minutes=5)
        await _sync(o.client(http), store, CALLS[1:])
        assert _rows_and_statuses(store) == EXPECTED
