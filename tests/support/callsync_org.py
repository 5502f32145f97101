"""An org for real ``callsync`` processes: both emulators on 127.0.0.1 (Zoho behind a
:class:`~tests.support.zoho_gate.WriteGate`), calls posted, a config file, and the environment of
a process that uses the test session's Prefect server."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from models.settings import Settings
from tests.reliability.conftest import Clock, Services
from tests.support.processes import Command
from tests.support.zoho_gate import WriteGate

WINDOW = ["--from", "2026-03-02T00:00:00", "--to", "2026-03-02T23:59:59"]
"""The day the generated calls are on (``tests.reliability.conftest.generated_calls``)."""


@dataclass
class Org:
    services: Services
    gate: WriteGate
    config: Path
    env: dict[str, str]
    settings_dict: dict[str, Any]

    def sync(self) -> Command:
        """``callsync sync`` over :data:`WINDOW`, in its own session."""
        return Command(
            ["sync", "--config", str(self.config), *WINDOW], self.env, self.config.parent
        )

    def settings(self) -> Settings:
        return Settings(**self.settings_dict)

    def writes(self) -> int:
        """Write requests Zoho has answered (its own statistics)."""
        routes = self.services.stats()["by_route"]
        return sum(
            v["requests"]
            for k, v in routes.items()
            if k in ("POST /crm/v8/{module}", "PUT /crm/v8/{module}")
        )

    def zoho_keys(self) -> Counter[str]:
        """Every ``rs_sync_key`` Zoho holds, with how many records carry it."""
        dump = self.services.dump()
        return Counter(
            str(record.get("rs_sync_key") or "")
            for module in ("Leads", "Tasks", "Calls")
            for record in dump[module]
        )


def process_env(workdir: Path, api_url: str) -> dict[str, str]:
    """The environment of a ``callsync`` process: nothing of the test's own Prefect or callsync
    settings, the session's Prefect server, a Prefect home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALLSYNC_"))}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(workdir / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        COLUMNS="200",
    )
    return env


@contextmanager
def callsync_org(
    workdir: Path, api_url: str, calls: list[dict[str, Any]], **zoho: Any
) -> Iterator[Org]:
    """The org (see the module docstring); ``zoho`` overrides ``[zoho]`` settings (e.g.
    ``max_concurrency=1``: one write request at a time, so the k-th is a point in the run)."""
    workdir.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    zoho_app = create_zoho(clock=clock)
    gate = WriteGate(zoho_app)
    with (
        BackgroundServer(gate) as zoho_server,
        BackgroundServer(create_ringostat(auth_key="test-key")) as ringostat,
        httpx.Client(timeout=30) as http,
    ):
        services = Services(
            zoho_server.url, ringostat.url, clock, http, workdir, zoho_app.state.zoho
        )
        services.post_calls(calls)
        settings = services.settings_dict()
        settings["zoho"] |= zoho
        config = workdir / "callsync.toml"
        config.write_bytes(tomli_w.dumps(settings).encode())
        try:
            yield Org(services, gate, config, process_env(workdir, api_url), settings)
        finally:
            gate.release()
