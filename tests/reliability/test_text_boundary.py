"""Text is cleaned at the boundary: a value is never the reason a run fails or a call is lost.

A lone surrogate (``"\\ud800"``, valid JSON, not encodable as UTF-8) in any text of a call-log
row used to fail every run at ingest (``UnicodeEncodeError``) while the row was in the window; in
a webhook it answered 500 and stored nothing. A NUL did the same on PostgreSQL. Both boundaries —
the Ringostat client parsing an answer, the receiver reading a webhook — now clean every value
(control characters other than tab and newlines removed, lone surrogates replaced with U+FFFD)
before anything is stored.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tasks.store import Store
from tasks.webhooks.inbox import Inbox
from tests.integration.webhook_support import TOKEN, pickup, receiver, zoho_world
from tests.reliability.conftest import Services, generated_calls
from tests.reliability.pipeline import sync_once

HOSTILE = {
    "utm_source": "\ud800promo",  # a lone surrogate
    "utm_campaign": "spring\x00sale",  # NUL
    "employee_fio": "Anna\x1b[31m\x07 Ivanova\x7f\x85",  # escape codes, bell, DEL, C1 (NEL)
    "landing": "https://shop.test/?q=a\tb\r\nc",  # tab and newlines are text: kept
    "utm_term": "\udc00\ud83d\ude00",  # a lone low surrogate, then a pair (one emoji)
}
CLEANED = {
    "utm_source": "\ufffdpromo",
    "utm_campaign": "springsale",
    "employee_fio": "Anna[31m Ivanova",
    "landing": "https://shop.test/?q=a\tb\r\nc",
    "utm_term": "\ufffd\U0001f600",
}


def _post_raw(services: Services, rows: list[dict[str, Any]]) -> None:
    """Post rows as ASCII JSON: ``\\ud800`` travels as the escape a vendor's encoder writes."""
    services.http.post(
        f"{services.ringostat_url}/__emulator__/calls",
        content=json.dumps(rows).encode(),
        headers={"content-type": "application/json"},
    ).raise_for_status()


def test_hostile_text_in_call_log_rows_is_cleaned_and_every_call_synced(
    services: Services,
) -> None:
    rows = generated_calls(6, seed=11)
    for i, row in enumerate(rows):
        row.update(call_type="in", disposition="NO ANSWER", connected_with="")
        row["caller"] = f"+38050444{i:04d}"
    for name, value in HOSTILE.items():
        rows[0][name] = value
    rows[1]["uniqueid"] = "nul\x00id"  # a NUL in the id itself
    rows[2]["employee_fio"] = "\ud800" * 3
    _post_raw(services, rows)

    result = asyncio.run(sync_once(services.settings(), services.clock, run_id="hostile-text"))

    leads = {r["rs_sync_key"]: r for r in services.dump()["Leads"]}
    assert len(leads) == len(rows), result
    assert leads[f"{rows[0]['uniqueid']}/lead"]["rs_utm_source"] == CLEANED["utm_source"]
    assert "nulid/lead" in leads
    with Store(services.settings().store.url) as store:
        stored = store.raw_row(rows[0]["uniqueid"])
        assert stored is not None
        assert {k: stored[k] for k in CLEANED} == CLEANED
        assert store.raw_row("nulid") is not None
        assert {c.status: c.count for c in store.call_counts()} == {"synced": len(rows)}


def test_hostile_text_in_a_webhook_is_cleaned_and_the_event_stored(tmp_path: Path) -> None:
    with zoho_world(tmp_path) as world:
        settings = world.settings()
        with receiver(settings, process=False) as rx, httpx.Client(timeout=30) as http:
            event = {**pickup("wh-hostile", "+380509990001"), **HOSTILE, "uniqueid": "wh\x00-1"}
            answer = http.post(
                f"{rx.url}/ringostat/pickup?token={TOKEN}",
                content=json.dumps(event).encode(),
                headers={"content-type": "application/json"},
            )
            form = http.post(  # a form body that is not UTF-8 (a lone surrogate's bytes)
                f"{rx.url}/ringostat/pickup?token={TOKEN}",
                content=b"uniqueid=wh-2&caller=%2B380509990002&utm_source=x%ED%A0%80y\xed\xa0\x80",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        assert (answer.status_code, form.status_code) == (200, 200), (answer.text, form.text)
        with Store(settings.store.url) as store:
            inbox = Inbox(store)
            first, second = inbox.get("pickup:wh-1"), inbox.get("pickup:wh-2")
            assert first is not None and second is not None
            row = json.loads(first.row_json)
            assert {k: row[k] for k in CLEANED} == {k: v.strip() for k, v in CLEANED.items()}
            assert json.loads(second.row_json)["utm_source"].startswith("x\ufffd")
