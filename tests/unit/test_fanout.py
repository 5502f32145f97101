"""The dispatcher's decision per tick, as a table: who gets a run, who is busy, which runs are
dead (their worker is gone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from flows.runtime.fanout import STALE_PENDING, TenantRun, plan_dispatch

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run(tenant: str, state: str, age: timedelta = timedelta(0)) -> TenantRun:
    return TenantRun(tenant, UUID(int=hash((tenant, state)) % 2**64), state, NOW - age)


@pytest.mark.parametrize(
    ("runs", "lease_free", "submit", "crashed"),
    [
        ([], True, ["a"], []),
        ([run("a", "SCHEDULED")], True, [], []),
        ([run("a", "PENDING")], True, [], []),
        ([run("a", "PENDING", STALE_PENDING + timedelta(seconds=1))], True, ["a"], ["a"]),
        ([run("a", "RUNNING")], False, [], []),
        ([run("a", "RUNNING")], True, ["a"], ["a"]),
        ([run("a", "CANCELLING")], True, ["a"], ["a"]),
        ([run("b", "RUNNING")], False, ["a"], []),
    ],
    ids=[
        "no run: one",
        "waiting: none",
        "claimed: none",
        "claimed long ago by a worker that died: again",
        "running with its lease: none",
        "running, lease free (its worker died): again",
        "cancelling, lease free: again",
        "another tenant's run is no reason",
    ],
)
def test_who_gets_a_run(
    runs: list[TenantRun], lease_free: bool, submit: list[str], crashed: list[str]
) -> None:
    asked: list[str] = []

    def free(tenant: str) -> bool:
        asked.append(tenant)
        return lease_free

    plan = plan_dispatch(["a"], runs, lease_free=free, now=NOW)
    assert plan.submit == submit
    assert [r.tenant for r in plan.crashed] == crashed
    # The store is asked only about a tenant whose run says it is running.
    assert set(asked) <= {r.tenant for r in runs if r.state in ("RUNNING", "CANCELLING")}


def test_every_tenant_in_one_tick() -> None:
    plan = plan_dispatch(
        ["a", "b", "c"], [run("b", "RUNNING")], lease_free=lambda t: False, now=NOW
    )
    assert plan.submit == ["a", "c"] and plan.busy == ["b"]


def flow_run(tenant: str, state: str, minute: int) -> Any:
    from prefect.client.schemas.objects import FlowRun, State, StateType

    return FlowRun(
        flow_id=UUID(int=1),
        parameters={"tenant": tenant},
        state=State(type=StateType(state)),
        created=NOW + timedelta(minutes=minute),
    )


@pytest.mark.parametrize(
    ("runs", "again"),
    [
        ([flow_run("a", "COMPLETED", 0)], []),
        ([flow_run("a", "CRASHED", 0)], ["a"]),
        ([flow_run("a", "FAILED", 0)], []),
        ([flow_run("a", "CRASHED", 1), flow_run("a", "COMPLETED", 2)], []),
        ([flow_run("a", "COMPLETED", 2), flow_run("a", "CRASHED", 1)], []),
        (
            [
                flow_run("a", "COMPLETED", 1),
                flow_run("a", "CRASHED", 2),
                flow_run("b", "CRASHED", 0),
            ],
            ["a", "b"],
        ),
    ],
    ids=[
        "completed: done",
        "crashed before it started: the next tick",
        "failed (the tenant's own fault): not again",
        "crashed, then completed at the next tick: done",
        "whatever order the server lists them in",
        "each tenant's last run decides",
    ],
)
def test_the_simulation_gives_a_crashed_run_the_next_tick(
    runs: list[Any], again: list[str]
) -> None:
    from flows.simulate.run import crashed_tenants, last_runs

    assert crashed_tenants(runs) == again
    assert set(last_runs(runs)) == {r.parameters["tenant"] for r in runs}
