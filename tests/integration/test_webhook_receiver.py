"""The webhook receiver over real HTTP (uvicorn on 127.0.0.1) against the Zoho emulator.

Every answer of SPEC 12, pickup → lead (new caller only, nothing for an existing one), a repeated
webhook that changes nothing, after-call → the rest of the plan.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tasks.pipeline import Pipeline
from tasks.pipeline.context import open_context
from tasks.pipeline.webhooks import LiveCrm, WebhookProcessor
from tasks.store import Store
from tasks.store.engine import open_engine
from tasks.webhooks.events import EventKind, read_event
from tasks.webhooks.inbox import Inbox
from tests.integration.webhook_support import (
    ANNA,
    EXISTING_LEAD,
    TOKEN,
    TOP,
    ZohoWorld,
    inbox_counts,
    pickup,
    receiver,
    zoho_world,
)


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> Iterator[ZohoWorld]:
    """The receiver's world on each state store (SQLite, PostgreSQL)."""
    with zoho_world(tmp_path, store_url) as w:
        yield w


def _sql(url: str, statement: str) -> list[Any]:
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _quarantine(settings_url: str) -> list[tuple[str, str, str]]:
    return _sql(settings_url, "select reason, detail, raw_json from quarantine")


def _leads(world: ZohoWorld) -> list[dict[str, Any]]:
    return [r for r in world.dump()["Leads"] if r.get("rs_sync_key")]


def test_every_answer_code(world: ZohoWorld) -> None:
    settings = world.settings()
    with receiver(settings, process=False) as rec, httpx.Client(base_url=rec.url) as http:
        url = "/ringostat/pickup"
        body = pickup("u-1", "+380501234501")

        # 401: no token, wrong token — nothing stored
        assert http.post(url, json=body).status_code == 401
        assert http.post(url, json=body, params={"token": "nope"}).status_code == 401
        assert http.get(url, params={**body, "token": TOKEN[:-1]}).status_code == 401
        assert inbox_counts(settings) == {}
        assert _quarantine(settings.store.url) == []

        # 200: JSON body with the token in the query; form body with the header; GET query
        ok = http.post(url, json=body, params={"token": TOKEN})
        assert ok.status_code == 200 and ok.json()["repeat"] is False
        form = pickup("u-2", "+380501234502")
        assert http.post(url, data=form, headers={"X-Callsync-Token": TOKEN}).status_code == 200
        query = pickup("u-3", "+380501234503")
        assert (
            http.get("/ringostat/after-call", params={**query, "token": TOKEN}).status_code == 200
        )

        # 200 again for a repeat, and nothing changes
        again = http.post(url, json=body, params={"token": TOKEN})
        assert again.status_code == 200 and again.json()["repeat"] is True
        assert inbox_counts(settings) == {"pickup/pending": 2, "after-call/pending": 1}

        # 400: unreadable events go to quarantine as bad_webhook, without the token
        bad = [
            http.post(url, json={"caller": "+380501234509"}, params={"token": TOKEN}),
            http.post(url, json={"uniqueid": "u-9"}, params={"token": TOKEN}),
            http.post(
                url,
                content=b"{not json",
                headers={"content-type": "application/json", "X-Callsync-Token": TOKEN},
            ),
            http.post(url, json=["a", "list"], params={"token": TOKEN}),
            http.post(
                url,
                json={**body, "uniqueid": "u-8", "calldate": "yesterday"},
                params={"token": TOKEN},
            ),
            http.post("/ringostat/outgoing-after-call", json=body, params={"token": TOKEN}),
        ]
        assert [r.status_code for r in bad] == [400] * 6
        reasons = [r.json()["message"] for r in bad]
        assert reasons[0] == "missing parameter 'uniqueid'"
        assert reasons[1] == "missing parameter 'caller' (the client number)"
        assert reasons[5] == "missing parameter 'dst' (the client number)"
        assert all("\n" not in m for m in reasons)
        kept = _quarantine(settings.store.url)
        assert {r for r, _, _ in kept} == {"bad_webhook"}
        assert len(kept) == 6
        assert all(TOKEN not in raw for _, _, raw in kept)

        # 413 above 64 KiB, nothing stored
        big = {**pickup("u-big", "+380501234510"), "utm_content": "x" * (65 * 1024)}
        assert http.post(url, json=big, params={"token": TOKEN}).status_code == 413
        assert inbox_counts(settings) == {"pickup/pending": 2, "after-call/pending": 1}

        # 503 when the store cannot take the event
        _sql(settings.store.url, "drop table webhook_inbox")
        down = http.post(url, json=pickup("u-4", "+380501234504"), params={"token": TOKEN})
        assert down.status_code == 503


def test_params_are_mapped_and_log_names_still_accepted(world: ZohoWorld) -> None:
    settings = world.settings(
        params={"phone": "caller", "call_id": "uniqueid", "sip": "connected_with"}
    )
    with receiver(settings, process=False) as rec, httpx.Client(base_url=rec.url) as http:
        mapped = {"call_id": "m-1", "phone": "+380501230001", "sip": "anna_sip", "token": TOKEN}
        assert http.get("/ringostat/pickup", params=mapped).status_code == 200
        own = {**pickup("m-2", "+380501230002"), "token": TOKEN}
        assert http.get("/ringostat/pickup", params=own).status_code == 200
    with Store(settings.store.url) as store:
        events = {e.uniqueid: e.row for e in Inbox(store).waiting()}
    assert events["m-1"]["caller"] == "+380501230001"
    assert events["m-1"]["connected_with"] == "anna_sip"
    assert "token" not in events["m-1"] and "phone" not in events["m-1"]
    assert events["m-2"]["caller"] == "+380501230002"


def test_pickup_creates_the_lead_of_row_1_and_nothing_for_an_existing_client(
    world: ZohoWorld,
) -> None:
    settings = world.settings()
    with receiver(settings) as rec, httpx.Client(base_url=rec.url) as http:
        params = {"token": TOKEN}
        assert (
            http.post(
                "/ringostat/pickup", json=pickup("p-1", "+380501110001"), params=params
            ).status_code
            == 200
        )
        assert (
            http.post(
                "/ringostat/pickup", json=pickup("p-2", "+380671111111"), params=params
            ).status_code
            == 200
        )
        assert (
            http.post(
                "/ringostat/pickup",
                json=pickup("p-3", "+380501110003", sip="stranger"),
                params=params,
            ).status_code
            == 200
        )
        got = rec.wait(3)
        outcomes = {h.event.uniqueid: h.outcome for h in got}
        # a repeat answers 200 and changes nothing
        assert http.post(
            "/ringostat/pickup", json=pickup("p-1", "+380501110001"), params=params
        ).json()["repeat"]
    assert outcomes == {"p-1": "lead_created", "p-2": "existing_client", "p-3": "lead_created"}
    leads = {r["rs_sync_key"]: r for r in _leads(world)}
    assert set(leads) == {"p-1/lead", "p-3/lead"}
    assert leads["p-1/lead"]["Owner"]["id"] == ANNA  # row 1: the employee who answered
    assert leads["p-3/lead"]["Owner"]["id"] == TOP  # row 2: unmapped → the TOP manager
    assert leads["p-1/lead"]["rs_utm_source"] == "google"
    assert leads["p-1/lead"]["Phone"] == "+380501110001"
    assert not world.dump()["Tasks"]  # nothing but the lead at pickup
    assert EXISTING_LEAD not in leads


def test_after_call_writes_the_rest_and_reuses_the_pickup_lead(world: ZohoWorld) -> None:
    settings = world.settings()
    with receiver(settings) as rec, httpx.Client(base_url=rec.url) as http:
        params = {"token": TOKEN}
        http.post("/ringostat/pickup", json=pickup("a-1", "+380501120001"), params=params)
        assert [h.outcome for h in rec.wait(1)] == ["lead_created"]
        final = {
            **pickup("a-1", "+380501120001"),
            "disposition": "ANSWERED",
            "billsec": "42",
            "duration": "50",
            "recording": "https://rec.example/a-1.mp3",
        }
        http.post("/ringostat/after-call", json=final, params=params)
        # a missed call with no pickup before it: the whole plan (lead + call-back task)
        missed = {
            "uniqueid": "a-2",
            "caller": "+380501120002",
            "calldate": "2026-03-02 10:05:00",
            "disposition": "NO ANSWER",
            "duration": "20",
        }
        http.post("/ringostat/after-call", json=missed, params=params)
        outcomes = {h.event.uniqueid: h.outcome for h in rec.wait(2)}
    assert outcomes == {"a-1": "synced", "a-2": "synced"}
    dump = world.dump()
    leads = {r["rs_sync_key"]: r for r in dump["Leads"] if r.get("rs_sync_key")}
    assert set(leads) == {"a-1/lead", "a-2/lead"}
    tasks = {t["rs_sync_key"]: t for t in dump["Tasks"]}
    assert set(tasks) == {"a-1/task", "a-2/task"}
    assert tasks["a-1/task"]["What_Id"]["id"] == leads["a-1/lead"]["id"]
    assert tasks["a-1/task"]["Status"] == "Completed"
    assert "https://rec.example/a-1.mp3" in tasks["a-1/task"]["Description"]
    assert tasks["a-2/task"]["Status"] == "Not Started"
    with Store(settings.store.url) as store:
        call = store.call("a-1")
        assert call is not None
        assert (call.status, call.scenario_row, call.client_status) == ("synced", 1, "new")
        assert json.loads(call.raw_json)["billsec"] == "42"


def test_enrich_modes_write_nothing_at_pickup(world: ZohoWorld) -> None:
    settings = world.settings(scenario={"mode": "enrich_leads"})
    with receiver(settings) as rec, httpx.Client(base_url=rec.url) as http:
        body = pickup("e-1", "+380501130001")
        assert http.post("/ringostat/pickup", json=body, params={"token": TOKEN}).status_code == 200
        assert [h.outcome for h in rec.wait(1)] == ["enrich_mode"]
    assert _leads(world) == []


def test_spent_credits_fail_events_for_a_while_then_the_receiver_tries_again(
    world: ZohoWorld,
) -> None:
    settings = world.settings()

    def event(uid: str, phone: str) -> Any:
        return read_event(
            EventKind.PICKUP,
            pickup(uid, phone),
            names={},
            received_at=datetime.now(UTC),
            timezone="Europe/Kyiv",
        )

    async def scenario() -> tuple[list[str], list[str]]:
        async with open_context(settings) as ctx:
            inbox = Inbox(ctx.store)
            crm = LiveCrm(ctx, refresh_s=60)
            processor = WebhookProcessor(Pipeline(ctx), crm, inbox=inbox, revive_after_s=0)
            inbox.add(event("c-1", "+380501140001"))
            world.faults(credit_budget=0)
            spent = [f"{h.status}/{h.detail}" for h in await processor.handle_waiting()]
            world.faults(credit_budget=None)
            inbox.add(event("c-2", "+380501140002"))
            later = [h.outcome for h in await processor.drain(retry_failed=True)]
            return spent, later

    spent, later = asyncio.run(scenario())
    assert len(spent) == 1 and spent[0].startswith("failed/CreditsExhausted")
    assert later == ["lead_created", "lead_created"]
    assert {r["rs_sync_key"] for r in _leads(world)} == {"c-1/lead", "c-2/lead"}
