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
from flows.dispatch import dispatch_runs
from flows.reports import refresh_reports
from flows.runtime import watchdog
from flows.sync import sync_calls
from models.settings import TENANTS_DIR_ENV

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


@dataclass(frozen=True)
class TenantServed:
    """A parameterised deployment of prefect.yaml's tenants set (``tenant`` per run, no
    schedule), with the dispatch deployment that gives each tenant its runs."""

    name: str
    flow: Flow[..., Any]
    description: str
    dispatch: str
    dispatch_description: str
    schedule: Schedule
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def flow_name(self) -> str:
        return f"callsync-serve-{self.flow.name.removeprefix('callsync-')}"


TENANT_SERVED: tuple[TenantServed, ...] = (
    TenantServed(
        "tenant-sync",
        sync_calls,
        "One company's sync (parameter tenant); its runs come from dispatch-syncs.",
        "dispatch-syncs",
        "Every minute, a tenant-sync run for each enabled tenant that has none waiting or running.",
        Interval(60),
    ),
    TenantServed(
        "tenant-backfill",
        backfill_calls,
        "One company's re-read of the previous two days; its runs come from dispatch-backfills.",
        "dispatch-backfills",
        "Nightly, a tenant-backfill run for each enabled tenant.",
        Cron("30 2 * * *", timezone=SCHEDULE_TIMEZONE),
        {"days_back": 2, "window_hours": 6},
    ),
    TenantServed(
        "tenant-reports",
        refresh_reports,
        "One company's reports refresh; its runs come from dispatch-reports.",
        "dispatch-reports",
        "Hourly, a tenant-reports run for each enabled tenant.",
        Cron("5 * * * *", timezone=SCHEDULE_TIMEZONE),
    ),
)
TENANT_TAGS = [*SERVE_TAGS, "tenants"]
TENANT_RUNS = 2
"""Tenant runs ``callsync serve`` runs at once (more, on more machines: workers on a pool)."""


def _one_at_a_time() -> ConcurrencyLimitConfig:
    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def _deployment(flow: Flow[..., Any], name: str, **options: Any) -> RunnerDeployment:
    deployment = flow.to_deployment(name=name, **options)
    # Called from synchronous code, to_deployment returns the deployment itself.
    assert isinstance(deployment, RunnerDeployment)
    return deployment


def build_deployments(config: str | None, tenants_dir: str | None = None) -> list[RunnerDeployment]:
    """The served deployments; ``config`` (a path) becomes every run's ``config`` parameter.
    With ``tenants_dir``, the tenants set instead: each parameterised deployment and its
    dispatcher (the runs find the directory in ``CALLSYNC_TENANTS_DIR``)."""
    if tenants_dir is not None:
        return _tenant_deployments()
    deployments = []
    for served in SERVED:
        params = {**served.parameters, **({"config": config} if config else {})}
        deployments.append(
            _deployment(
                served.flow.with_options(name=served.flow_name),
                served.name,
                description=served.description,
                schedules=[served.schedule],
                parameters=params,
                tags=SERVE_TAGS,
                concurrency_limit=_one_at_a_time(),
            )
        )
    return deployments


def _tenant_deployments() -> list[RunnerDeployment]:
    deployments = []
    dispatcher = dispatch_runs.with_options(name="callsync-serve-dispatch")
    for served in TENANT_SERVED:
        deployments.append(
            _deployment(
                served.flow.with_options(name=served.flow_name),
                served.name,
                description=served.description,
                parameters=dict(served.parameters),
                tags=TENANT_TAGS,
            )
        )
        deployments.append(
            _deployment(
                dispatcher,
                served.dispatch,
                description=served.dispatch_description,
                schedules=[served.schedule],
                parameters={"deployment": f"{served.flow_name}/{served.name}"},
                tags=TENANT_TAGS,
                concurrency_limit=_one_at_a_time(),
            )
        )
    return deployments


async def serve_deployments(
    deployments: list[RunnerDeployment],
    ui_url: str,
    config: str | None = None,
    tenants_dir: str | None = None,
) -> None:
    """Register the deployments, say so, make the failure alert match the config
    (flows/runtime/alerts.py), then run their schedules (and the webhook receiver, when
    ``[webhook] token`` is set) until stopped."""
    from prefect.runner import Runner

    from flows.runtime.alerts import apply_alert
    from flows.runtime.listen import receiver_service, tenants_receiver_service
    from models.settings import load_settings
    from models.tenants import TenantsDir

    # What prefect.aserve does, with the lines printed once the deployments are registered.
    runner = Runner(pause_on_shutdown=True, limit=TENANT_RUNS if tenants_dir else None)
    # The runs' processes end with this one, even if it is killed (flows/watchdog.py).
    os.environ[watchdog.ENV] = str(os.getpid())
    for deployment in deployments:
        added = runner.add_deployment(deployment)  # a coroutine here, in async code
        assert inspect.isawaitable(added)
        await added
    typer.echo(f"Prefect UI: {ui_url}")
    for d in deployments:
        typer.echo(f"  deployment {d.flow_name}/{d.name}")
    tenants = TenantsDir.from_option(tenants_dir) if tenants_dir else None
    prefect_settings = tenants.prefect() if tenants else load_settings(config).prefect
    typer.echo((await apply_alert(prefect_settings)).describe())
    services: list[Coroutine[Any, Any, None]] = [
        runner.start(),
        # the webhook receiver: every tenant's, or the one company's
        tenants_receiver_service(tenants_dir) if tenants_dir else receiver_service(config),
    ]
    await asyncio.gather(*services)


def serve_all(config: str | None, ui_url: str, tenants_dir: str | None = None) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM); the schedules are paused on the way out."""
    if tenants_dir is not None:
        os.environ[TENANTS_DIR_ENV] = tenants_dir  # every run finds its tenant's file there
    asyncio.run(
        serve_deployments(build_deployments(config, tenants_dir), ui_url, config, tenants_dir)
    )
