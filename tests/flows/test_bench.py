"""Smoke test of ``callsync bench``: the real flow on a small day, in-process (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from flows.bench import run_bench


def test_bench_runs_the_real_flow_and_reports_every_figure(
    tmp_path: Path, prefect_harness: None
) -> None:
    result = run_bench(
        calls=60, idle_runs=1, baseline_sample=5, latency_ms=0, workdir=tmp_path, in_process=True
    )
    json.dumps(result)  # one JSON object
    first, rerun, idle = result["first_pass"], result["rerun"], result["idle"]
    assert result["calls"] == 60
    assert first["records_written"] > 0
    assert first["zoho_requests"] >= first["floor_requests"] > 0
    assert first["zoho_credits"] >= first["floor_credits"] > 0
    assert first["stages_s"]["task:write-to-zoho"] >= 0
    assert first["peak_rss_mb"] > 0
    # The rerun of synced calls writes nothing; an idle run writes nothing either.
    assert rerun["records_written"] == 0
    assert not any(route.startswith("POST /crm") for route in rerun["zoho_requests_by_route"])
    assert idle["runs"] == 1
    assert not any(r.startswith("POST /crm") for r in idle["zoho_requests_by_route_last"])
    # A per-call integration costs more than the batched one.
    assert result["per_call_baseline"]["sample_calls"] == 5
    assert result["per_call_baseline"]["credits_ratio"] > 1
