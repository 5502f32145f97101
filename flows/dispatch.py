"""The dispatch flow: every tenant of the tenants directory gets a run of a parameterised
deployment (its sync, its reports, its backfill), at most one in line at a time.

How it decides, and why a dispatcher rather than a schedule per tenant:
:mod:`flows.runtime.fanout`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.client.orchestration import get_client

from flows.runtime.fanout import mark_crashed, plan_dispatch, submit_runs, unfinished_runs
from models.settings import ConfigError
from models.tenants import TenantsDir
from tasks.lease import lease_taken
from tasks.store import Store


def lease_checker(directory: TenantsDir) -> Any:
    url = directory.store().url

    def free(tenant: str) -> bool:
        store = Store(url, tenant=tenant)
        try:
            return lease_taken(store) is None
        finally:
            store.close()

    return free


async def dispatch(
    deployment: str,
    *,
    tenants_dir: str | None = None,
    parameters: dict[str, Any] | None = None,
    tick: str | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Any]:
    """One tick of the fan-out over ``deployment`` (``<flow name>/<deployment name>``), over
    every tenant of the directory or the ``only`` ones among them."""
    directory = TenantsDir.from_option(tenants_dir)
    if directory is None:
        raise ConfigError("the dispatch flow needs a tenants directory (CALLSYNC_TENANTS_DIR)")
    tenants = [t for t in directory.names() if only is None or t in only]
    async with get_client() as client:
        target = await client.read_deployment_by_name(deployment)
        runs = await unfinished_runs(client, target.id)
        plan = plan_dispatch(
            tenants, runs, lease_free=lease_checker(directory), now=datetime.now(UTC)
        )
        await mark_crashed(client, plan.crashed)
        run_ids = await submit_runs(
            client,
            target.id,
            plan.submit,
            tick=tick or str(uuid.uuid4()),
            parameters={
                **(parameters or {}),
                **({"tenants_dir": tenants_dir} if tenants_dir else {}),
            },
        )
    return {
        "tenants": len(tenants),
        **plan.to_dict(),
        "submitted": len(run_ids),
        "left_for_next_tick": len(plan.submit) - len(run_ids),
        "run_ids": [str(r) for r in run_ids],
    }


@flow(name="callsync-dispatch", log_prints=False)
async def dispatch_runs(
    deployment: str = "callsync-sync/tenant-sync",
    tenants_dir: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Give every enabled tenant a run of ``deployment`` unless it has one waiting or running.

    Args:
        deployment: ``<flow name>/<deployment name>`` of the parameterised deployment.
        tenants_dir: the tenants directory (default: ``$CALLSYNC_TENANTS_DIR``).
        parameters: more parameters for every run (``tenant`` is added per run).
    """
    result = await dispatch(
        deployment,
        tenants_dir=tenants_dir,
        parameters=parameters,
        tick=str(runtime.flow_run.id or uuid.uuid4()),
    )
    get_run_logger().info(
        "%s: %d tenants, %d runs submitted, %d still busy%s",
        deployment,
        result["tenants"],
        result["submitted"],
        result["busy"],
        f", crashed runs restarted: {', '.join(result['crashed'])}" if result["crashed"] else "",
    )
    return result
