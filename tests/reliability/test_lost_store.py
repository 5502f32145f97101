"""A lost state store is rebuilt from Zoho, not re-guessed.

With ``state.db`` deleted and the same window synced again, the calls used to be relabelled
(outbound calls matched leads that later calls of the window had created: row 10 became row 11,
"new" became "existing") and extra tasks were written. A run on an empty store whose Zoho holds
records with ``rs_sync_key`` now rebuilds the ledger from them first: the reports of the replay
equal the first run's, and Zoho holds every record once, nothing added.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from tests.reliability.conftest import Services, generated_calls, size
from tests.reliability.pipeline import land, sync_once

SEED = 7101


def _calls_report(services: Services) -> list[tuple[Any, ...]]:
    settings = services.settings()
    land(settings, services.clock)
    with duckdb.connect(settings.store.duckdb_path, read_only=True) as db:
        return db.execute(
            "select uniqueid, scenario_row, client_status, status from calls order by uniqueid"
        ).fetchall()


def _zoho(services: Services) -> Counter[str]:
    dump = services.dump()
    return Counter(
        str(r.get("rs_sync_key") or f"{module}:{r['id']}")
        for module in ("Leads", "Tasks")
        for r in dump[module]
    )


def test_a_lost_store_is_rebuilt_from_zoho_and_relabels_nothing(services: Services) -> None:
    calls = generated_calls(size(200, 800), seed=SEED)
    services.post_calls(calls)
    asyncio.run(sync_once(services.settings(), services.clock, run_id="first"))
    first, written = _calls_report(services), _zoho(services)
    assert any(row[1] == 10 for row in first), "the window needs outbound calls to new clients"

    state = Path(services.settings().store.url.removeprefix("sqlite:///"))
    for path in state.parent.glob(state.name + "*"):  # the file and its WAL
        path.unlink()
    services.clock.advance(minutes=10)
    asyncio.run(sync_once(services.settings(), services.clock, run_id="replay"))
    replay, after = _calls_report(services), _zoho(services)

    relabelled = [(a, b) for a, b in zip(first, replay, strict=True) if a != b]
    print(
        f"figures: {len(calls)} calls; after the store was lost: {len(relabelled)} relabelled, "
        f"{sum(after.values()) - sum(written.values())} records added to Zoho"
    )
    assert relabelled == []
    assert after == written
