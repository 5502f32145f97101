"""The pipeline's stages as Prefect tasks: one thin wrapper per stage, made from the stage itself.

The flows never re-type the stage sequence: they hand :func:`stage_runner` to the pipeline
(:class:`tasks.pipeline.Pipeline`), which then runs each of its stages as the Prefect task of the
same name (``read-calls``, ``plan-writes``, ``write-to-zoho``, ...). Every task handles a batch (a
page, a chunk of calls), never one call.

Retries (ARCHITECTURE habit 5): transient HTTP failures are retried inside the clients; a Prefect
retry is only for a whole stage that talks to a vendor and still failed on a retriable error
(``retry_condition_fn``), and is safe because every Zoho write carries its ``rs_sync_key`` and the
ledger remembers it. The pauses before those retries are the flow's to choose (it reads them from
the environment; nothing here does).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.utilities.annotations import quote

from tasks.pipeline.run import StageRunner
from tasks.pipeline.stages import RETRIED, STAGES
from tasks.vendor.errors import RetriableError

T = TypeVar("T")

DEFAULT_RETRY_DELAYS_S = (10.0, 60.0)


def big(value: T) -> T:
    """Pass ``value`` to a task without Prefect walking it (``quote``).

    Prefect visits every element of a task's arguments (to find futures and record inputs); for
    the rows, calls, plans and the CRM view of a large run that was most of the flow's time. The
    task receives the value itself.
    """
    return cast(T, quote(value))


def retriable_only(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a stage only when it failed on a transient vendor error (429, 5xx, timeouts).

    Prefect hands over a Failed state whose ``data`` is the exception the stage raised.
    """
    return isinstance(state.data, RetriableError)


def retry_delays(raw: str | None) -> list[float]:
    """The pauses before a stage's Prefect retries, from ``"10,60"``-style text (the default
    when empty; the test suite sets ``"0,0"``: the clients' own backoff is what tests exercise)."""
    if not raw:
        return list(DEFAULT_RETRY_DELAYS_S)
    try:
        delays = [float(part) for part in raw.split(",")]
    except ValueError as exc:
        raise ValueError(f"CALLSYNC_STEP_RETRY_DELAYS_S: not a list of seconds: {raw!r}") from exc
    if not delays or any(d < 0 for d in delays):
        raise ValueError(f"CALLSYNC_STEP_RETRY_DELAYS_S: not a list of seconds: {raw!r}")
    return delays


def _on_the_flows_loop(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A plain stage as a coroutine function that calls it, so that its Prefect task runs on
    the async flow's engine and Prefect client.

    The flows are async; Prefect runs a plain task called from one inline on the flow's thread
    anyway, but through its sync engine, which builds a sync Prefect client (an HTTP client and
    a TLS context, ~30 ms of CPU) for every task run. The stage still runs on the flow's thread,
    start to end; its signature (the task's parameters) is the stage's own."""
    if inspect.iscoroutinefunction(fn):
        return fn

    @functools.wraps(fn)
    async def stage(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return stage


TASKS: dict[str, Task[..., Any]] = {
    name: Task(_on_the_flows_loop(fn), name=name, cache_policy=NO_CACHE)
    for name, fn in STAGES.items()
}
"""Every stage as a Prefect task of its own name."""


def stage_runner(delays: Sequence[float] = DEFAULT_RETRY_DELAYS_S) -> StageRunner:
    """Runs a stage as its Prefect task (vendor stages retried after ``delays``), the
    arguments passed through unvisited (:func:`big`)."""
    tasks = {
        name: (
            t.with_options(
                retries=len(delays),
                retry_delay_seconds=list(delays),
                retry_condition_fn=retriable_only,
            )
            if name in RETRIED
            else t
        )
        for name, t in TASKS.items()
    }

    async def run(name: str, /, *args: Any) -> Any:
        result = tasks[name](*(big(a) for a in args))
        if hasattr(result, "__await__"):
            result = await result
        return result

    return run
