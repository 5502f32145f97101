"""Fan-out: one run of a parameterised deployment per tenant, on a Prefect work pool.

Each tick (the ``callsync-dispatch`` flow, every minute) looks at the deployment's unfinished
runs and gives every enabled tenant with none a new run (parameter ``tenant``, tag
``tenant:<name>``); any number of ``prefect worker start --pool …`` processes, on any machines
sharing the state store, take them. A tenant never has two runs in line: a tenant whose run is
still waiting or running is left alone, so a pool that falls behind does not pile up runs (each
would cost a process start to find the lease taken).

A run a killed worker left behind stays "Running" (or "Pending") in Prefect forever; only the
store knows its holder is gone. So a running run whose tenant's lease is free (PostgreSQL: the
session that held it ended with the process; SQLite: the holder's process is gone or its lease
expired) is marked ``Crashed`` and the tenant gets a new run at this tick — another worker takes
it within one tick, and the ledger makes sure nothing is written twice. A run left ``Pending``
longer than :data:`STALE_PENDING` (claimed by a worker that died before starting it) is treated
the same way.

Why a dispatcher and not one schedule per tenant on the deployment (measured,
``benchmarks/bench_schedules.py``; Prefect issues #7433, #13207, #17550, #18894): the scheduler
keeps an hour of future runs per schedule (60 per tenant at one a minute: 12,000 scheduled runs
for 200 tenants), every added or disabled tenant is a redeploy of the deployment's schedules
(which races the scheduler into duplicate runs), and scheduled runs pile up when the workers
fall behind. The dispatcher reads the tenants directory each tick: adding or disabling a tenant
touches nothing in Prefect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

SUBMIT_CONCURRENCY = 4
"""Runs created at once: one after another, 200 runs took 72 s on the 2-core machine (more than a
tick); more at once than the server's database takes answers 503 (measured: 8 did, at 200)."""
SUBMIT_ATTEMPTS = 6
log = logging.getLogger(__name__)

STALE_PENDING = timedelta(minutes=5)
"""A run claimed by a worker but not started after this long: that worker is gone."""
TENANT_TAG = "tenant:"
WAITING = frozenset({"SCHEDULED", "PENDING", "PAUSED"})
"""States of a run that has not started its work (``Late`` is a scheduled run's name)."""
ACTIVE = frozenset({"RUNNING", "CANCELLING"})


@dataclass(frozen=True, slots=True)
class TenantRun:
    """An unfinished run of the deployment, as the dispatcher sees it."""

    tenant: str
    run_id: UUID
    state: str
    """Prefect's state type (``SCHEDULED``, ``PENDING``, ``RUNNING``, ...)."""
    since: datetime
    """When it entered that state."""


@dataclass
class Dispatch:
    """What one tick decided: tenants given a run, runs found dead, tenants left waiting."""

    submit: list[str] = field(default_factory=list)
    crashed: list[TenantRun] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "submitted": len(self.submit),
            "busy": len(self.busy),
            "crashed": [f"{r.tenant} ({r.run_id})" for r in self.crashed],
        }


def plan_dispatch(
    tenants: Iterable[str],
    runs: Iterable[TenantRun],
    *,
    lease_free: Callable[[str], bool],
    now: datetime,
) -> Dispatch:
    """Which tenants get a run now (module docstring). ``lease_free(tenant)`` is asked only for
    tenants whose run says it is running."""
    by_tenant: dict[str, list[TenantRun]] = {}
    for run in runs:
        by_tenant.setdefault(run.tenant, []).append(run)
    out = Dispatch()
    for tenant in tenants:
        mine = by_tenant.get(tenant, [])
        alive = [
            r
            for r in mine
            if (r.state in WAITING and not (r.state == "PENDING" and now - r.since > STALE_PENDING))
        ]
        active = [r for r in mine if r.state in ACTIVE]
        if alive or (active and not lease_free(tenant)):
            out.busy.append(tenant)
            continue
        out.crashed.extend(r for r in mine if r not in alive)
        out.submit.append(tenant)
    return out


def tenant_of(tags: Sequence[str], parameters: Mapping[str, Any]) -> str | None:
    """The tenant a run is for: its ``tenant`` parameter (the tag says the same)."""
    value = parameters.get("tenant")
    if isinstance(value, str):
        return value
    return next((t.removeprefix(TENANT_TAG) for t in tags if t.startswith(TENANT_TAG)), None)


async def unfinished_runs(client: Any, deployment_id: UUID) -> list[TenantRun]:
    """The deployment's runs that have not reached a final state."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    states = [StateType(s) for s in (*WAITING, *ACTIVE)]
    found: list[TenantRun] = []
    offset = 0
    while True:
        page = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)),
            ),
            limit=200,
            offset=offset,
        )
        for run in page:
            tenant = tenant_of(run.tags, run.parameters)
            if tenant is None or run.state is None:
                continue
            found.append(TenantRun(tenant, run.id, run.state.type.value, run.state.timestamp))
        if len(page) < 200:
            return found
        offset += 200


async def submit_runs(
    client: Any,
    deployment_id: UUID,
    tenants: Sequence[str],
    *,
    tick: str,
    parameters: Mapping[str, Any] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[UUID]:
    """One run per tenant, :data:`SUBMIT_CONCURRENCY` requests at a time; the idempotency key
    (tick, tenant) makes a retried submission or tick create nothing twice. A server too busy to
    take one (503: its database locked) is asked again after a pause; a tenant whose run still
    cannot be created is left to the next tick, never the reason the others get none."""
    from prefect.exceptions import PrefectHTTPStatusError

    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)

    async def one(tenant: str) -> UUID | None:
        async with gate:
            for attempt in range(SUBMIT_ATTEMPTS):
                try:
                    run = await client.create_flow_run_from_deployment(
                        deployment_id,
                        parameters={**(parameters or {}), "tenant": tenant},
                        tags=[f"{TENANT_TAG}{tenant}"],
                        idempotency_key=f"callsync-dispatch {tick} {tenant}",
                    )
                    return UUID(str(run.id))
                except PrefectHTTPStatusError as exc:
                    if exc.response.status_code not in (429, 502, 503, 504):
                        raise
                    log.warning("tenant %s: Prefect is busy (%s)", tenant, exc.response.status_code)
                    await sleep(min(2.0**attempt, 30.0))
            return None

    created = await asyncio.gather(*(one(t) for t in tenants))
    return [run_id for run_id in created if run_id is not None]


async def mark_crashed(client: Any, runs: Sequence[TenantRun]) -> None:
    """Say in the UI what happened to the runs of killed workers."""
    from prefect.states import Crashed

    for run in runs:
        await client.set_flow_run_state(
            run.run_id,
            Crashed(
                message="its worker is gone (the tenant's run lease is free): "
                "the dispatcher started the tenant again"
            ),
            force=True,
        )
