"""The pipeline's stages as Prefect tasks (``tasks.steps``): each task has its stage's own
parameters, and a plain (non-async) stage runs on the async flow's engine — no sync Prefect client
is built for its task run, as Prefect's sync engine does for a plain task."""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from flows.runtime.prefect_server import LocalPrefectServer
from tasks.pipeline.stages import STAGES
from tasks.steps import TASKS, _on_the_flows_loop

# Prefect's engine lets go of a keep-alive socket to its API without closing it when an async
# flow's event loop ends; the garbage collector reports it later. Only that report is tolerated.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)


def test_every_stage_task_is_async_and_takes_its_stages_parameters() -> None:
    assert set(TASKS) == set(STAGES)
    for name, task in TASKS.items():
        assert task.isasync, name
        assert inspect.signature(task.fn) == inspect.signature(STAGES[name]), name
        assert task.name == name


def _sync_clients_built(monkeypatch: pytest.MonkeyPatch, fn: Callable[..., Any]) -> int:
    """How many sync Prefect clients an async flow builds while it runs ``fn`` as a task,
    and that the task returned the stage's own result."""
    from prefect import Task, flow
    from prefect.cache_policies import NO_CACHE
    from prefect.client.orchestration import SyncPrefectClient

    built: list[int] = []
    original = SyncPrefectClient.__init__

    def counting(self: SyncPrefectClient, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(SyncPrefectClient, "__init__", counting)
    task = Task(fn, name="stage-probe", cache_policy=NO_CACHE)

    @flow(name="callsync-stage-probe")
    async def probe() -> list[int]:
        results = []
        for n in range(3):
            result = task(n)
            if inspect.isawaitable(result):
                result = await result
            results.append(result)
        return results

    before = len(built)
    assert asyncio.run(probe()) == [0, 2, 4]
    return len(built) - before


def _double(n: int) -> int:
    return n * 2


def test_a_plain_stage_runs_without_a_sync_prefect_client_per_task_run(
    prefect_harness: None, prefect_server: LocalPrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prefect's own way for a plain task: a sync client for each of the three task runs (and
    # whatever the flow run builds once for itself).
    plain = _sync_clients_built(monkeypatch, _double)
    # The stage as the flows run it: none for its task runs.
    wrapped = _sync_clients_built(monkeypatch, _on_the_flows_loop(_double))
    assert wrapped <= 1, wrapped
    assert plain >= wrapped + 3, (plain, wrapped)
    # The sockets Prefect let go of are reported here, under this module's filter, rather than
    # in whichever later test the garbage collector happens to run.
    gc.collect()
