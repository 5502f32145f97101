"""Spent Zoho credits stop the run within one request; a later run continues, nothing doubled."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import Session, select

from models.tables import CallRecord
from tasks.store import Store
from tasks.zoho.errors import CreditsExhausted
from tests.reliability.conftest import Services, generated_calls, size
from tests.reliability.pipeline import sync_once


def _refused(services: Services) -> int:
    """CRM requests Zoho answered without charging credits (429s here: nothing else fails)."""
    crm = sum(v["requests"] for k, v in services.stats()["by_route"].items() if " /crm/" in k)
    return crm - len(services.zoho_state.credit_log)


def _statuses(services: Services) -> dict[str, int]:
    with Store(services.settings().store.url) as store, Session(store.engine) as session:
        calls = session.exec(select(CallRecord)).all()
    out: dict[str, int] = {}
    for c in calls:
        out[c.status] = out.get(c.status, 0) + 1
    return out


def test_spent_credits_stop_within_one_request_and_a_later_run_resumes(services: Services) -> None:
    services.post_calls(generated_calls(size(150, 1500), seed=11))
    settings = services.settings(max_concurrency=1, max_retries=8)  # one request at a time
    services.faults(credit_budget=12)  # the reads and part of the writes
    with pytest.raises(CreditsExhausted):
        asyncio.run(sync_once(settings, services.clock, run_id="spent"))
    assert _refused(services) == 1  # the first refusal stops the run: no retry, no next batch
    left = _statuses(services).get("pending", 0)
    assert left > 0
    print(f"figures: credits spent: 1 refused request, {left} calls left pending, then resumed")

    services.clock.advance(hours=1)
    services.faults(credit_budget=None)  # the rolling 24 hours freed credits
    asyncio.run(sync_once(settings, services.clock, run_id="later"))
    statuses = _statuses(services)
    assert statuses.get("pending", 0) == 0 and statuses.get("failed", 0) == 0
    dump = services.dump()
    keys = [r["rs_sync_key"] for m in ("Leads", "Tasks") for r in dump[m]]
    assert len(keys) == len(set(keys))
