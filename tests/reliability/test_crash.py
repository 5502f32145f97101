"""SIGKILL at random points of the writing phase changes nothing a clean run would report.

Real ``callsync sync`` processes (the command line, a config file pointing at both emulators on
127.0.0.1, the session's Prefect server) are killed with SIGKILL at a write request chosen by a
seeded random generator — while the request is held before Zoho sees it, or after Zoho ran it and
before its answer leaves (the gate: :mod:`tests.support.zoho_gate`). The next run starts at once
(the dead holder's lease is taken over) and carries on; a last one finishes. At the end the
DuckDB reports count the same scenario rows, client statuses and call statuses as one clean run
of the same calls, and Zoho holds every record once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from flows.runtime.prefect_server import LocalPrefectServer
from models.settings import Settings
from tests.flows.conftest import prefect_server
from tests.reliability.conftest import Services, generated_calls, size, start_services
from tests.reliability.pipeline import land, sync_once
from tests.support.callsync_org import callsync_org
from tests.support.processes import WAIT_S

__all__ = ["prefect_server"]  # the fixture

SEED = 20261202
BATCH = 20  # records per write request in the killed runs: many kill points per run


def _counts(settings: Settings) -> list[tuple[Any, ...]]:
    land(settings, lambda: datetime.now(UTC))
    with duckdb.connect(settings.store.duckdb_path, read_only=True) as db:
        return db.execute(
            "select scenario_row, client_status, status, count(*) from calls "
            "group by all order by all"
        ).fetchall()


def _zoho(services: Services) -> tuple[Counter[str], int, int]:
    dump = services.dump()
    keys: Counter[str] = Counter(
        str(r["rs_sync_key"]) for m in ("Leads", "Tasks") for r in dump[m] if r.get("rs_sync_key")
    )
    return keys, len(dump["Leads"]), len(dump["Tasks"])


def test_sigkill_in_the_writing_phase_leaves_the_reports_of_a_clean_run(
    tmp_path: Path, prefect_server: LocalPrefectServer
) -> None:
    calls = generated_calls(size(120, 600), seed=SEED)
    wanted_kills = size(3, 12)

    with start_services(tmp_path / "clean") as clean:
        clean.post_calls(calls)
        asyncio.run(sync_once(clean.settings(), clean.clock, run_id="clean"))
        expected = _counts(clean.settings())
        _, clean_leads, clean_tasks = _zoho(clean)

    rng = random.Random(SEED)
    kills: list[tuple[int, bool]] = []
    # BATCH records per write request, one request at a time: the k-th is a point in the run.
    with callsync_org(
        tmp_path / "killed", prefect_server.api_url, calls, max_concurrency=1, write_batch=BATCH
    ) as killed:
        for attempt in range(wanted_kills * 3):
            # Seeded points, both kinds in turn: after Zoho ran the request, then before.
            point, after = rng.randint(1, 4), attempt % 2 == 0
            killed.gate.arm(point, after=after)
            run = killed.sync()
            if not killed.gate.wait_held(WAIT_S) or run.proc.poll() is not None:
                # The run had fewer writes left than the kill point: it finished the work.
                assert run.finish() == 0, "".join(run.output)[-3000:]
                break
            os.killpg(run.proc.pid, signal.SIGKILL)
            assert run.finish() == -signal.SIGKILL
            killed.gate.release()
            kills.append((point, after))
            if len(kills) == wanted_kills:
                break
        assert len(kills) >= min(wanted_kills, 2), f"only {len(kills)} kills: more calls needed"

        killed.gate.arm(None)
        last = killed.sync()
        assert last.finish() == 0, "".join(last.output)[-3000:]
        out = "".join(last.output)
        assert "holds this state store" not in out, out

        keys, leads, tasks = _zoho(killed.services)
        assert [k for k, n in keys.items() if n > 1] == []
        assert (leads, tasks) == (clean_leads, clean_tasks)
        assert _counts(killed.settings()) == expected
    after = sum(1 for _, a in kills if a)
    print(
        f"figures: {len(calls)} calls, {len(kills)} SIGKILLs of callsync sync ({after} after "
        f"Zoho answered, {len(kills) - after} before it saw the request), {leads} leads and "
        f"{tasks} tasks, each once; DuckDB counts equal to the clean run's ({len(expected)} groups)"
    )
