"""Six processes compete for the Zoho token refresh claim of one state store, on SQLite (the
compare-and-swap) and PostgreSQL (a row lock): never two at once, one token request per claim,
as the Zoho emulator counts them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reliability.conftest import size, start_services

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 6


def test_six_processes_claim_the_token_refresh_one_at_a_time(
    store_url: str, tmp_path: Path
) -> None:
    rounds = size(30, 200)
    with start_services(tmp_path / "org") as services:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.token_claimer",
                    store_url,
                    services.zoho_url,
                    str(rounds),
                    str(tmp_path / "minting"),
                ],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.communicate(timeout=300)[0].strip().splitlines()[-1])
                   for proc in procs]  # fmt: skip
        assert all(proc.returncode == 0 for proc in procs)
        mints = services.stats()["by_route"]["POST /oauth/v2/token"]["requests"]
    claims = sum(r["claims"] for r in results)
    print(f"figures: {PROCESSES} processes, {claims} refresh claims, {mints} token requests")
    assert sum(r["overlaps"] for r in results) == 0
    assert claims == mints > 0  # which processes win is the scheduler's business
