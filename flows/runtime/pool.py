"""A Prefect process work pool for the tenants' runs: the pool, the parameterised deployments on
it, and ``prefect worker start`` processes that take their runs.

The tenant deployments import their flows by module path (``flows.sync.sync_calls``), so a
worker needs callsync installed in its Python (the checkout's ``.venv``), not a particular
working directory; ``CALLSYNC_TENANTS_DIR`` in the deployment's environment names the tenants.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from models.settings import ENV_PREFIX, TENANTS_DIR_ENV

WARM_COMMAND = "python -m flows.runtime.warm_engine"
"""The tenant deployments' job command: a run forked from a process that has imported
everything (:mod:`flows.runtime.warm_engine`), instead of ``python -m prefect.engine``. ``python``
is the worker's: start workers with ``callsync worker`` (or from the checkout's activated
``.venv``)."""
POLL_SECONDS = 2
"""How often a worker asks the server for runs (Prefect's default is 10 s): a tenant's run
waits at most this long for a free worker."""


def create_pool(name: str) -> None:
    """The process work pool ``name`` (left as it is when it exists)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )


def deploy_tenant_flow(
    flow: Any,
    *,
    name: str,
    pool: str,
    tenants_dir: Path,
    parameters: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    warm: bool = True,
) -> str:
    """Register ``flow`` as the parameterised deployment ``name`` on ``pool``: no schedule (the
    dispatcher gives each tenant its runs), warm starts unless ``warm`` is False (Prefect's own
    ``python -m prefect.engine``); returns ``<flow name>/<name>``."""
    from prefect.types.entrypoint import EntrypointType

    deployment = flow.to_deployment(
        name=name,
        entrypoint_type=EntrypointType.MODULE_PATH,
        work_pool_name=pool,
        parameters=dict(parameters or {}),
        job_variables={
            **({"command": WARM_COMMAND} if warm else {}),
            "env": {TENANTS_DIR_ENV: str(tenants_dir), **(env or {})},
        },
        tags=["callsync", "tenants"],
    )
    deployment.apply()
    return f"{flow.name}/{name}"


def worker_env(
    api_url: str, base: Mapping[str, str] | None = None, *, keep_prefect: bool = False
) -> dict[str, str]:
    """A worker's environment: the Prefect server, a short poll; no ``CALLSYNC_`` setting of
    the caller's (a tenant's settings come from its file), and no other ``PREFECT_`` setting
    unless ``keep_prefect`` (an operator's API key, profile...)."""
    drop = (ENV_PREFIX,) if keep_prefect else (ENV_PREFIX, "PREFECT_")
    env = {
        k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(drop)
    }
    # ``python`` of the job command is this checkout's interpreter.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [bin_dir, *(p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir)]
    )
    env.update(PREFECT_API_URL=api_url, DO_NOT_TRACK="1")
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", str(POLL_SECONDS))
    env.setdefault("PREFECT_WORKER_PREFETCH_SECONDS", "0")
    for name in ("PREFECT_HOME", "CALLSYNC_STEP_RETRY_DELAYS_S"):
        value = (os.environ if base is None else base).get(name)
        if value:
            env[name] = value
    return env


class Workers:
    """``count`` ``prefect worker start`` processes on ``pool``, each running ``limit`` flow
    runs at a time, their output in ``logs/worker-N.log``; stopped (their process groups
    killed) on exit."""

    def __init__(
        self, pool: str, count: int, *, env: Mapping[str, str], logs: Path, limit: int = 1
    ) -> None:
        self.pool = pool
        self.count = count
        self.limit = limit
        self.env = dict(env)
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def command(self, n: int) -> Sequence[str]:
        return [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            self.pool,
            "--type",
            "process",
            "--limit",
            str(self.limit),
            "--name",
            f"{self.pool}-worker-{n}",
        ]

    def start(self) -> Workers:
        self.logs.mkdir(parents=True, exist_ok=True)
        for n in range(1, self.count + 1):
            log = (self.logs / f"worker-{n}.log").open("ab")
            try:
                self.procs.append(
                    subprocess.Popen(
                        self.command(n),
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # a worker and its runs: one process group
                    )
                )
            finally:
                log.close()
        return self

    def wait_ready(self, timeout_s: float = 300) -> None:
        """Until every worker says it started (its log line), or one exits."""
        done = threading.Event()
        deadline = timeout_s

        def ready(n: int) -> bool:
            text = (self.logs / f"worker-{n}.log").read_text(errors="replace")
            return "started" in text

        while not done.wait(0.2):
            deadline -= 0.2
            for n, proc in enumerate(self.procs, start=1):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"worker {n} exited with {proc.returncode}: see {self.logs}/worker-{n}.log"
                    )
            if all(ready(n) for n in range(1, len(self.procs) + 1)):
                return
            if deadline <= 0:
                raise TimeoutError(f"the workers did not start within {timeout_s:.0f}s")

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM (a worker stops taking runs and exits), SIGKILL for what is left."""
        import signal

        for sig in (signal.SIGTERM, signal.SIGKILL):
            for proc in self.procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)
            for proc in self.procs:
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    continue

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
