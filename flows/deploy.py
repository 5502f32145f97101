"""``callsync serve``: the schedules of deployments/prefect.yaml, served from this process.

Without ``PREFECT_API_URL`` a local Prefect server is started under ``.callsync/prefect`` (its UI
shows the runs and lets you retry them); with it, the given server is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from prefect.deployments.runner import RunnerDeployment

from flows.prefect_server import LocalPrefectServer

SYNC_EVERY_S = 60
BACKFILL_CRON = "30 2 * * *"
REPORTS_CRON = "5 * * * *"


def serve_all(config: str | None) -> None:
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = LocalPrefectServer(Path(".callsync/prefect")).start()
        os.environ["PREFECT_API_URL"] = server.api_url
        typer.echo(f"Prefect UI: {server.url}")
    try:
        from prefect import serve

        from flows.backfill import backfill_calls
        from flows.reports import refresh_reports
        from flows.sync import sync_calls

        params: dict[str, Any] = {"config": config} if config else {}
        deployments = [
            sync_calls.to_deployment(name="sync", interval=SYNC_EVERY_S, parameters=params),
            backfill_calls.to_deployment(
                name="nightly-backfill",
                cron=BACKFILL_CRON,
                parameters={**params, "days_back": 2},
            ),
            refresh_reports.to_deployment(name="reports", cron=REPORTS_CRON, parameters=params),
        ]
        # Called from synchronous code, to_deployment returns the deployment itself.
        serve(*[d for d in deployments if isinstance(d, RunnerDeployment)])
    finally:
        if server is not None:
            server.stop()
