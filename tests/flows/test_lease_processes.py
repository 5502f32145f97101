"""The run lease between real ``callsync sync`` processes, on SQLite and PostgreSQL.

A gate in front of the Zoho emulator holds the first write request that arrives, so a test
knows the holder is inside its run (lease taken, plan recorded, writing). Then:

- a second sync, started while the holder lives, exits 0 with one line naming the holder;
- the holder is SIGKILLed, and the next sync starts at once (no expiry waited for) and finishes
  the calls, every record in Zoho once;
- a holder that lost its lease while held up (paused past its expiry and taken over on SQLite;
  its database session ended on PostgreSQL) stops before its next write request.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest
import tomli_w
from sqlalchemy import update

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.prefect_server import LocalPrefectServer
from models.tables import LeaseRecord
from tasks.lease import LEASE_NAME
from tasks.store.engine import open_engine
from tests.reliability.conftest import Clock, Services, generated_calls
from tests.support.databases import BACKENDS, libpq_url, store_database
from tests.support.processes import Command

WINDOW = ["--from", "2026-03-02T00:00:00", "--to", "2026-03-02T23:59:59"]
_WRITE = re.compile(r"^/crm/v\d+/(Leads|Contacts|Deals|Tasks|Calls)$")
Scope = dict[str, Any]


class WriteGate:
    """ASGI in front of the Zoho emulator: while armed, the first write request waits at the
    gate until it is opened (later requests pass)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.armed = True
        self.entered = threading.Event()
        self.opened = threading.Event()
        self._lock = threading.Lock()

    def _claim(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            return False
        if not _WRITE.match(str(scope["path"])):
            return False
        with self._lock:
            mine, self.armed = self.armed, False
        return mine

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self._claim(scope):
            self.entered.set()
            await anyio.to_thread.run_sync(self.opened.wait)
        await self.app(scope, receive, send)


@dataclass
class World:
    services: Services
    gate: WriteGate
    url: str
    config: Path
    env: dict[str, str]
    cwd: Path

    def sync(self) -> Command:
        return Command(["sync", "--config", str(self.config), *WINDOW], self.env, self.cwd)

    def write_requests(self) -> int:
        routes = self.services.stats()["by_route"]
        return sum(
            v["requests"]
            for k, v in routes.items()
            if k.startswith(("POST", "PUT")) and "{module}" in k
        )

    def zoho_keys(self) -> Counter[str]:
        dump = self.services.dump()
        return Counter(
            str(r["rs_sync_key"])
            for module in ("Leads", "Tasks", "Calls")
            for r in dump.get(module, [])
            if r.get("rs_sync_key")
        )


@contextmanager
def open_world(backend: str, tmp_path: Path, api_url: str) -> Iterator[World]:
    clock = Clock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    zoho_app = create_zoho(clock=clock)
    gate = WriteGate(zoho_app)
    with (
        store_database(backend, tmp_path) as url,
        BackgroundServer(gate) as zoho,
        BackgroundServer(create_ringostat(auth_key="test-key")) as ringostat,
        httpx.Client(timeout=30) as http,
    ):
        services = Services(zoho.url, ringostat.url, clock, http, tmp_path, zoho_app.state.zoho)
        services.post_calls(generated_calls(40, seed=17))
        config = tmp_path / "callsync.toml"
        config.write_bytes(tomli_w.dumps(services.settings_dict(url=url)).encode())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALLSYNC_"))}
        env.update(
            PREFECT_API_URL=api_url,
            PREFECT_HOME=str(tmp_path / "client-home"),
            DO_NOT_TRACK="1",
            COLUMNS="200",
        )
        world = World(services, gate, url, config, env, tmp_path)
        try:
            yield world
        finally:
            gate.opened.set()


def _wait(event: threading.Event, holder: Command) -> None:
    if not event.wait(timeout=300):
        holder.proc.kill()
        holder.finish()
        raise AssertionError(f"the holder never wrote:\n{''.join(holder.output)}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sigkilled_holder_frees_the_lease_at_once(
    backend: str, tmp_path: Path, prefect_server: LocalPrefectServer
) -> None:
    with open_world(backend, tmp_path, prefect_server.api_url) as world:
        holder = world.sync()
        _wait(world.gate.entered, holder)

        busy = world.sync()  # the holder lives: one line, exit 0, nothing written
        assert busy.finish() == 0, "".join(busy.output)
        said = "".join(busy.output)
        assert "holds this state store (sync run" in said and f"pid {holder.proc.pid} " in said

        os.killpg(holder.proc.pid, signal.SIGKILL)
        assert holder.finish() == -signal.SIGKILL
        world.gate.opened.set()  # the killed run's last request reaches Zoho after all

        successor = world.sync()
        assert successor.finish() == 0, "".join(successor.output)
        out = "".join(successor.output)
        assert "holds this state store" not in out, out
        keys = world.zoho_keys()
        assert keys and max(keys.values()) == 1, keys.most_common(3)


def _end_the_holders_session(world: World, backend: str, holder: Command) -> None:
    """How the holder loses its lease while it is held up at the gate."""
    if backend == "sqlite":
        # Paused past its expiry: stopped, and the lease's expiry moved into the past (what
        # waiting three minutes would do to it).
        os.killpg(holder.proc.pid, signal.SIGSTOP)
        engine = open_engine(world.url)
        with engine.begin() as conn:
            conn.execute(
                update(LeaseRecord)
                .where(LeaseRecord.name == LEASE_NAME)
                .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
            )
        engine.dispose()
    else:
        # Its database session ends (an operator, a failover): the advisory lock goes with it.
        with psycopg.connect(libpq_url(world.url), autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid, 60000) FROM pg_locks WHERE locktype = 'advisory' "
                # Only this test's database: tests on other databases run beside it (xdist).
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall()
        assert ended == [(True,)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_holder_that_lost_its_lease_stops_before_its_next_write(
    backend: str, tmp_path: Path, prefect_server: LocalPrefectServer
) -> None:
    with open_world(backend, tmp_path, prefect_server.api_url) as world:
        holder = world.sync()
        _wait(world.gate.entered, holder)
        _end_the_holders_session(world, backend, holder)
        world.gate.opened.set()  # its request in flight completes in Zoho

        successor = world.sync()  # takes the lease over and writes everything
        assert successor.finish() == 0, "".join(successor.output)
        assert "holds this state store" not in "".join(successor.output)
        sent = world.write_requests()

        if backend == "sqlite":
            os.killpg(holder.proc.pid, signal.SIGCONT)
        code = holder.finish()
        out = "".join(holder.output)
        assert code != 0 and "lost the state store's run lease" in out, out
        assert world.write_requests() == sent, "the holder wrote after it lost its lease"
        keys = world.zoho_keys()
        assert keys and max(keys.values()) == 1, keys.most_common(3)
