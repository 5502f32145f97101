"""SPEC 13: visitor-controlled values and odd uniqueids never cost a caller their lead."""

from __future__ import annotations

import httpx
import pytest

from models.sync_key import sync_key
from tasks.store import Store
from tests.integration.pipeline_support import (
    Org,
    dump,
    inbound,
    lead_keys,
    org,
    rows_and_statuses,
    sync_steps,
)

__all__ = ["org"]  # the fixture

pytestmark = pytest.mark.anyio

HUGE = "utm-" + "x" * 100_000  # 100 KB, as a visitor can put it in a landing page's URL
ODD = ['quote"d', "it's/slashed", "дзвінок-42", "long-" + "9" * 300]


async def test_a_100_kb_utm_value_is_cut_to_its_field_and_the_lead_is_written(
    org: tuple[Org, httpx.AsyncClient],
) -> None:
    o, http = org
    rows = [
        inbound("huge", "+380501110001", "ANSWERED", 1, connected_with="top_sip", utm_source=HUGE),
        inbound("plain", "+380501110002", "NO ANSWER", 2, utm_source="google"),
    ]
    with Store("sqlite://", clock=o.clock) as store:
        client = o.client(http)
        report = await sync_steps(client, store, rows)
        assert not report.failures
        assert rows_and_statuses(store) == {"huge": (1, "new"), "plain": (6, "new")}
        # the fields metadata is read once per module written (and Deals' once, for its closed
        # stages), then kept
        assert client.stats.by_route["GET /crm/v8/settings/fields"] == 3
    after = await dump(http)
    leads = {r["rs_sync_key"]: r for r in after["Leads"]}
    cut = leads["huge/lead"]["rs_utm_source"]
    assert len(cut) == 255 and cut.endswith("…") and cut.startswith("utm-xxx")
    assert leads["plain/lead"]["rs_utm_source"] == "google"  # values that fit are untouched
    task = next(t for t in after["Tasks"] if t["rs_sync_key"] == "huge/task")
    assert len(task["Description"]) <= 32000 and task["Description"].endswith("…")


async def test_odd_uniqueids_get_stable_hashed_keys_and_their_leads(
    org: tuple[Org, httpx.AsyncClient],
) -> None:
    o, http = org
    rows = [inbound(uid, f"+38050111000{i}", "NO ANSWER", i) for i, uid in enumerate(ODD)]
    with Store("sqlite://", clock=o.clock) as store:
        report = await sync_steps(o.client(http), store, rows)
        assert not report.failures
        assert rows_and_statuses(store) == {uid: (6, "new") for uid in ODD}
        o.clock.advance(minutes=5)
        store.ingest(rows, run_id="again")  # read again: nothing new to write
        await sync_steps(o.client(http), store, rows)
    after = await dump(http)
    assert lead_keys(after) == {sync_key(uid, "lead"): 1 for uid in ODD}
    assert all(k.startswith("h-") for k in lead_keys(after))
    tasks = sorted(str(t["rs_sync_key"]) for t in after["Tasks"])
    assert tasks == sorted(sync_key(uid, "task") for uid in ODD)
