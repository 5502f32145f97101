"""SIGKILL at random points of the writing phase changes nothing a clean run would report.

A real subprocess runs the sync and is killed (SIGKILL) at a write request chosen by a seeded
random generator — just before the request leaves, or just after Zoho answered and before the
ledger heard of it. Runs follow each other with the clock moved past the run lease's expiry (a
killed run blocks the next one at most that long). At the end the DuckDB reports count the
same scenario rows, client statuses and call statuses as one clean run of the same calls, and
Zoho holds every record once.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from tests.reliability.conftest import Services, generated_calls, size, start_services
from tests.reliability.pipeline import land, sync_once

REPO = Path(__file__).resolve().parents[2]
SEED = 20261202
BATCH = 10  # records per write request in the killed runs: many kill points per run


def _counts(services: Services) -> list[tuple[Any, ...]]:
    land(services.settings(), services.clock)
    with duckdb.connect(str(services.workdir / "reports.duckdb"), read_only=True) as db:
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


def test_sigkill_in_the_writing_phase_leaves_the_reports_of_a_clean_run(tmp_path: Path) -> None:
    calls = generated_calls(size(120, 600), seed=SEED)
    wanted_kills = size(10, 40)

    with start_services(tmp_path / "clean") as clean:
        clean.post_calls(calls)
        asyncio.run(sync_once(clean.settings(), clean.clock, run_id="clean"))
        expected, (_, clean_leads, clean_tasks) = _counts(clean), _zoho(clean)

    rng = random.Random(SEED)
    kills: list[tuple[int, bool]] = []
    done: tuple[int, bool, str] | None = None
    with start_services(tmp_path / "killed") as org:
        org.post_calls(calls)
        settings = json.dumps(org.settings_dict())
        for _ in range(wanted_kills * 4):
            point, after = rng.randint(1, 3), rng.random() < 0.5
            proc = subprocess.run(
                [
                    sys.executable, "-m", "tests.reliability.pipeline",
                    "--settings", settings, "--now", org.clock.now.isoformat(),
                    "--kill-at", str(point), "--batch", str(BATCH),
                    *(["--after"] if after else []),
                ],
                cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            org.clock.advance(minutes=4)  # past the killed run's lease
            if proc.returncode == -signal.SIGKILL:
                kills.append((point, after))
                if len(kills) == wanted_kills:
                    break
                continue
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert "lease_held" not in proc.stdout
            done = (point, after, proc.stdout[-300:])
            break  # the work was done before the next kill point
        assert len(kills) >= wanted_kills, f"only {len(kills)} kills ({done}): more calls needed"

        asyncio.run(sync_once(org.settings(), org.clock, run_id="final"))
        keys, leads, tasks = _zoho(org)
        assert [k for k, n in keys.items() if n > 1] == []
        assert (leads, tasks) == (clean_leads, clean_tasks)
        assert _counts(org) == expected
        after = sum(1 for _, a in kills if a)
        print(
            f"figures: {len(calls)} calls, {len(kills)} SIGKILLs ({after} after Zoho answered, "
            f"{len(kills) - after} before sending), {leads} leads and {tasks} tasks, each once; "
            f"DuckDB counts equal to the clean run's ({len(expected)} groups)"
        )
