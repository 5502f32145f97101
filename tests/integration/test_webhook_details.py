"""The real receiver (uvicorn on 127.0.0.1) with the Zoho emulator: webhook dates in every
format a Ringostat project can choose, and one oversized value, still give the caller a lead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tasks.store import Store
from tasks.webhooks.events import MAX_VALUE_CHARS
from tasks.webhooks.inbox import Inbox
from tests.integration.webhook_support import TOKEN, ZohoWorld, pickup, receiver, zoho_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ZohoWorld]:
    with zoho_world(tmp_path) as w:
        yield w


def test_any_calldate_format_and_a_long_value_are_accepted(world: ZohoWorld) -> None:
    # was 400 for all but the first: Ringostat never resends, so each of these callers
    # got no lead at pickup
    calldates = {
        "d-1": "2026-03-02 10:00:00",
        "d-2": "2026-03-02T10:00:00+02:00",
        "d-3": "2026-03-02T08:00:00Z",
        "d-4": "02.03.2026 10:00:00",
        "d-5": "1772438400",
    }
    landing = "https://shop.example/?q=" + "x" * (20 * 1024)
    settings = world.settings()
    with receiver(settings) as rec, httpx.Client(base_url=rec.url) as http:
        for i, (uid, calldate) in enumerate(calldates.items()):
            body = pickup(uid, f"+38050115000{i}", calldate=calldate)
            answer = http.post("/ringostat/pickup", json=body, params={"token": TOKEN})
            assert answer.status_code == 200, answer.text
        body = pickup("d-6", "+380501150009", landing=landing)
        answer = http.post("/ringostat/pickup", json=body, params={"token": TOKEN})
        assert answer.status_code == 200, answer.text
        outcomes = {h.event.uniqueid: h.outcome for h in rec.wait(6)}
    assert outcomes == dict.fromkeys([*calldates, "d-6"], "lead_created")
    leads = {r["rs_sync_key"] for r in world.dump()["Leads"] if r.get("rs_sync_key")}
    assert leads == {f"{uid}/lead" for uid in outcomes}
    with Store(settings.store.url) as store:
        inbox = Inbox(store)
        rows = {uid: inbox.get(f"pickup:{uid}") for uid in outcomes}
    stored = {uid: json.loads(rec.row_json) for uid, rec in rows.items() if rec is not None}
    # every format is kept as the call log writes calldate: the same moment, 10:00 in Kyiv
    assert {stored[uid]["calldate"] for uid in calldates} == {"2026-03-02 10:00:00"}
    assert stored["d-6"]["landing"] == landing[: MAX_VALUE_CHARS - 1] + "…"
