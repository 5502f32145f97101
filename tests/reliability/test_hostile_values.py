"""A 100 KB UTM value and odd uniqueids still give their callers leads."""

from __future__ import annotations

import asyncio

from models.sync_key import sync_key
from tests.reliability.conftest import Services, generated_calls
from tests.reliability.pipeline import sync_once

ODD = ['say "hi"', "a/b/c", "дзвінок-7", "x" * 300, "with space", "it's"]


def test_a_100_kb_utm_and_odd_uniqueids_still_give_leads(services: Services) -> None:
    rows = generated_calls(len(ODD) + 1, seed=3)
    for row, uid in zip(rows, [*ODD, "huge-utm"], strict=True):
        row.update(uniqueid=uid, call_type="in", disposition="NO ANSWER", connected_with="")
        row["caller"] = f"+38050{len(uid):03d}{ODD.index(uid) if uid in ODD else 9:04d}"
    rows[-1]["utm_source"] = "u" * 100_000
    services.post_calls(rows)
    result = asyncio.run(sync_once(services.settings(), services.clock, run_id="hostile"))
    assert "failed" not in str(result["writes"]) and "blocked" not in str(result["writes"])
    leads = {r["rs_sync_key"]: r for r in services.dump()["Leads"]}
    assert set(leads) == {sync_key(uid, "lead") for uid in [*ODD, "huge-utm"]}
    utm = leads["huge-utm/lead"]["rs_utm_source"]
    assert utm.endswith("…") and len(utm) == 255
