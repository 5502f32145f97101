"""``callsync serve``: the deployments of deployments/prefect.yaml, served from this process.

The deployments have the names, parameters, schedules and time zones of ``prefect.yaml``
(tests/flows/test_serve.py keeps the two in step) and go to the installation's Prefect server
(``PREFECT_API_URL``, or the local one callsync runs; see flows/runtime/prefect_server.py), so the UI the
command prints shows them and their runs, and a failed run can be retried there.

Their flows are registered under their own names (``callsync-serve-sync`` …, tag ``serve``):
a Prefect deployment is identified by flow name and deployment name, so ``prefect deploy`` of
``prefect.yaml`` (flows ``callsync-sync`` …, run by a work pool) and ``callsync serve`` on the same
server never overwrite each other's deployments.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import typer
from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval, Schedule

from flows.backfill import backfill_calls
from flows.reports import refresh_reports
from flows.runtime import watchdog
from flows.sync import sync_calls

SERVE_TAGS = ["callsync", "serve"]
SCHEDULE_TIMEZONE = "Europe/Kyiv"


@dataclass(frozen=True)
class Served:
    """One deployment of prefect.yaml as ``callsync serve`` runs it."""

    name: str
    flow: Flow[..., Any]
    description: str
    schedule: Schedule
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def flow_name(self) -> str:
        return f"callsync-serve-{self.flow.name.removeprefix('callsync-')}"


SERVED: tuple[Served, ...] = (
    Served(
        "sync",
        sync_calls,
        "Read new and changed Ringostat calls and write them to Zoho CRM, every minute.",
        Interval(60),
    ),
    Served(
        "nightly-backfill",
        backfill_calls,
        "Re-read the previous two days (late recordings, outages); safe to repeat.",
        Cron("30 2 * * *", timezone=SCHEDULE_TIMEZONE),
        {"days_back": 2, "window_hours": 6},
    ),
    Served(
        "reports",
        refresh_reports,
        "Pull lead conversions and deal outcomes back from Zoho; rebuild the DuckDB reports.",
        Cron("5 * * * *", timezone=SCHEDULE_TIMEZONE),
    ),
)


def build_deployments(config: str | None) -> list[RunnerDeployment]:
    """The served deployments; ``config`` (a path) becomes every run's ``config`` parameter."""
    deployments = []
    for served in SERVED:
        params = {**served.parameters, **({"config": config} if config else {})}
        deployment = served.flow.with_options(name=served.flow_name).to_deployment(
            name=served.name,
            description=served.description,
            schedules=[served.schedule],
            parameters=params,
            tags=SERVE_TAGS,
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
        )
        # Called from synchronous code, to_deployment returns the deployment itself.
        assert isinstance(deployment, RunnerDeployment)
        deployments.append(deployment)
    return deployments


async def serve_deployments(
    deployments: list[RunnerDeployment], ui_url: str, config: str | None = None
) -> None:
    """Register the deployments, say so, make the failure alert match the config
    (flows/runtime/alerts.py), then run their schedules (and the webhook receiver, when
    ``[webhook] token`` is set) until stopped."""
    from prefect.runner import Runner

    from flows.runtime.alerts import apply_alert
    from flows.runtime.listen import receiver_service
    from models.settings import load_settings

    # What prefect.aserve does, with the lines printed once the deployments are registered.
    runner = Runner(pause_on_shutdown=True)
    # The runs' processes end with this one, even if it is killed (flows/watchdog.py).
    os.environ[watchdog.ENV] = str(os.getpid())
    for deployment in deployments:
        added = runner.add_deployment(deployment)  # a coroutine here, in async code
        assert inspect.isawaitable(added)
        await added
    typer.echo(f"Prefect UI: {ui_url}")
    for d in deployments:
        typer.echo(f"  deployment {d.flow_name}/{d.name}")
    typer.echo((await apply_alert(load_settings(config).prefect)).describe())
    services: list[Coroutine[Any, Any, None]] = [
        runner.start(),
        receiver_service(config),  # the webhook receiver (SPEC section 12)
    ]
    await asyncio.gather(*services)


def serve_all(config: str | None, ui_url: str) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM); the schedules are paused on the way out."""
    asyncio.run(serve_deployments(build_deployments(config), ui_url, config))
