"""The Prefect tasks of the sync flow: thin wrappers (3–10 lines) around the plain step functions.

They live together here so that the pure modules (phones, calls, scenario) never import Prefect
and every retry policy can be read in one place. Each task handles a whole batch, never one call.

Retries (ARCHITECTURE habit 5): transient HTTP failures are retried inside the clients; a Prefect
retry is only for a whole step that still failed on a retriable error (``retry_condition_fn``),
and is safe because every Zoho write carries its ``rs_sync_key`` and the ledger remembers it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.utilities.annotations import quote

from expectations.assignment import validate_plans
from expectations.phones import validate_calls
from expectations.runner import GxRunner, SuiteOutcome
from models.call import Call, Unprocessable
from models.crm import ZohoUser
from models.plan import CallPlan, PlannedWrite
from models.settings import STEP_RETRY_DELAYS_ENV, Settings
from tasks.calls import parse_rows
from tasks.crm_sync import CrmView, load_users, refresh_crm
from tasks.ringostat.client import RingostatClient
from tasks.ringostat.cursor import Window
from tasks.ringostat.errors import RetriableError as RingostatRetriable
from tasks.scenario import plan_calls
from tasks.store import IngestResult, Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.errors import RetriableError as ZohoRetriable
from tasks.zoho.writer import WriteReport, execute_plans, execute_writes

T = TypeVar("T")


def big(value: T) -> T:
    """Pass ``value`` to a task without Prefect walking it (``quote``).

    Prefect visits every element of a task's arguments (to find futures and record inputs); for
    the rows, calls, plans and the CRM view of a large run that was most of the flow's time. The
    task receives the value itself.
    """
    return cast(T, quote(value))


def retriable_only(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a step only when it failed on a transient vendor error (429, 5xx, timeouts).

    Prefect hands over a Failed state whose ``data`` is the exception the step raised.
    """
    return isinstance(state.data, (ZohoRetriable, RingostatRetriable))


def retry_delays(raw: str | None) -> list[float]:
    """The pauses before a step's Prefect retries: ``CALLSYNC_STEP_RETRY_DELAYS_S`` ("10,60" by
    default; the test suite sets "0,0": the clients' own backoff is what tests exercise)."""
    if not raw:
        return [10.0, 60.0]
    try:
        delays = [float(part) for part in raw.split(",")]
    except ValueError as exc:
        raise ValueError(f"CALLSYNC_STEP_RETRY_DELAYS_S: not a list of seconds: {raw!r}") from exc
    if not delays or any(d < 0 for d in delays):
        raise ValueError(f"CALLSYNC_STEP_RETRY_DELAYS_S: not a list of seconds: {raw!r}")
    return delays


_DELAYS = retry_delays(os.environ.get(STEP_RETRY_DELAYS_ENV))
_RETRY: dict[str, Any] = {
    "retries": len(_DELAYS),
    "retry_delay_seconds": _DELAYS,
    "retry_condition_fn": retriable_only,
    "cache_policy": NO_CACHE,
}


@task(name="read-calls", **_RETRY)
async def read_calls(client: RingostatClient, window: Window) -> list[dict[str, Any]]:
    return await client.fetch_window(window.start, window.end)


@task(name="ingest-calls", cache_policy=NO_CACHE)
def ingest_calls(store: Store, rows: Sequence[Mapping[str, Any]], run_id: str) -> IngestResult:
    return store.ingest(rows, run_id=run_id)


@task(name="load-users", **_RETRY)
async def load_zoho_users(zoho: ZohoClient, settings: Settings) -> tuple[list[ZohoUser], ZohoUser]:
    return await load_users(zoho, settings)


@task(name="refresh-phone-index", **_RETRY)
async def refresh_phone_index(
    zoho: ZohoClient,
    store: Store | None,
    settings: Settings,
    users: list[ZohoUser],
    top_manager: ZohoUser,
    persist: bool = True,
) -> CrmView:
    return await refresh_crm(zoho, store, settings, users, top_manager, persist=persist)


@task(name="parse-calls", cache_policy=NO_CACHE)
def parse_calls(
    rows: Sequence[Mapping[str, Any]], settings: Settings
) -> tuple[list[Call], list[Unprocessable]]:
    return parse_rows(rows, settings)


@task(name="validate-phones", cache_policy=NO_CACHE)
def validate_phone_normalization(
    gx: GxRunner, calls: Sequence[Call], settings: Settings
) -> SuiteOutcome:
    return validate_calls(gx, calls, settings)


@task(name="plan-writes", cache_policy=NO_CACHE)
def plan_writes(
    calls: Sequence[Call], crm: CrmView, settings: Settings, now: datetime
) -> list[CallPlan]:
    return plan_calls(calls, crm.snapshot, crm.employees, settings, now=now)


@task(name="validate-assignment", cache_policy=NO_CACHE)
def validate_assignment(
    gx: GxRunner,
    plans: Sequence[CallPlan],
    calls: Sequence[Call],
    crm: CrmView,
    settings: Settings,
) -> SuiteOutcome:
    return validate_plans(
        gx,
        plans,
        {c.uniqueid: c for c in calls},
        active_user_ids={u.id for u in crm.users if u.active},
        top_manager_id=crm.top_manager.id,
        settings=settings,
    )


@task(name="write-to-zoho", **_RETRY)
async def write_to_zoho(
    plans: Sequence[CallPlan], zoho: ZohoClient, store: Store, settings: Settings
) -> WriteReport:
    return await execute_plans(plans, zoho, store, sync_key_field=settings.scenario.sync_key_field)


@task(name="update-recordings", **_RETRY)
async def apply_updates(
    writes: Sequence[tuple[str, PlannedWrite]], zoho: ZohoClient, store: Store, settings: Settings
) -> WriteReport:
    return await execute_writes(
        writes, zoho, store, sync_key_field=settings.scenario.sync_key_field
    )
