"""Flow tests: the real flows under Prefect's test harness, both emulators on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from sqlalchemy import text

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.prefect_server import LocalPrefectServer, drain_prefect_clients
from tasks.store.engine import open_engine
from tests.support.prefect_session import worker_home

FIXED_NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def prefect_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrefectServer]:
    """One real Prefect server for the whole run (callsync's own kind: ``prefect server
    start``, analytics off), its database in a temporary home: the flow-test modules share one
    start instead of paying Prefect's temporary server each. Under pytest-xdist the workers share
    one too, and the controller stops it (tests/support/prefect_session.py).

    The home is the same for every definition of this fixture (modules elsewhere import it, which
    makes a session fixture of their own): a later one finds the running server through its
    record and reuses it."""
    shared = worker_home(request.config)
    server = LocalPrefectServer(shared or tmp_path_factory.getbasetemp() / "prefect-home")
    yield server.start()
    if shared is None:
        server.stop()


@pytest.fixture(scope="module")
def prefect_harness(prefect_server: LocalPrefectServer) -> Iterator[None]:
    """Prefect's client pointed at the session's server for one test module; its background
    workers (logs, events) are drained and stopped when the module ends: their threads touch the
    global ``random`` state, which Hypothesis (in later test modules) must not see."""
    import prefect.context
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        temporary_settings,
    )

    updates = {PREFECT_API_URL: prefect_server.api_url, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: False}
    with (
        temporary_settings(updates=updates),
        # Threads started with a fresh context read the process-global settings: point them too.
        prefect.context._temporary_global_settings_context(prefect.context.SettingsContext.get()),
    ):
        try:
            yield
        finally:
            drain_prefect_clients()


class Clock:
    """The Zoho emulator's clock: fixed, moved forward by the tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    zoho_url: str
    ringostat_url: str
    config_path: Path
    workdir: Path
    clock: Clock
    http: httpx.Client
    config: dict[str, Any] = field(default_factory=dict)
    store_url: str = ""

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Rows of one SQL statement on the state store (SQLite or PostgreSQL alike)."""
        engine = open_engine(self.store_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def seed_zoho(self, body: dict[str, Any]) -> None:
        self.http.post(f"{self.zoho_url}/__emulator__/seed", json=body).raise_for_status()

    def post_calls(self, rows: list[dict[str, Any]]) -> None:
        self.http.post(f"{self.ringostat_url}/__emulator__/calls", json=rows).raise_for_status()

    def faults(self, **faults: Any) -> None:
        self.http.put(f"{self.zoho_url}/__emulator__/faults", json=faults).raise_for_status()

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        answer: dict[str, list[dict[str, Any]]] = self.http.get(
            f"{self.zoho_url}/__emulator__/dump"
        ).json()
        return answer

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"{self.zoho_url}/__emulator__/stats").json()
        return answer

    def write_config(self, **sections: dict[str, Any]) -> Path:
        for name, values in sections.items():
            self.config.setdefault(name, {}).update(values)
        self.config_path.write_bytes(tomli_w.dumps(self.config).encode())
        return self.config_path

    def sync(self, as_of: datetime, **params: Any) -> dict[str, Any]:
        from flows.sync import sync_calls

        result: dict[str, Any] = asyncio.run(
            sync_calls(config=str(self.config_path), as_of=as_of, **params)
        )
        return result


@pytest.fixture
def world(tmp_path: Path, prefect_harness: None, store_url: str) -> Iterator[World]:
    """A world per state store: the flows run on SQLite and on PostgreSQL."""
    with open_world(tmp_path, store_url) as w:
        yield w


@contextmanager
def open_world(tmp_path: Path, store_url: str | None = None) -> Iterator[World]:
    """Both emulators and a config in ``tmp_path`` (a test may need two worlds side by side);
    the state store at ``store_url`` (default: a SQLite file in ``tmp_path``)."""
    clock = Clock(FIXED_NOW)
    with (
        BackgroundServer(create_zoho(clock=clock)) as zoho,
        BackgroundServer(create_ringostat(auth_key="test-key")) as ringostat,
        httpx.Client(timeout=30) as http,
    ):
        url = store_url or f"sqlite:///{tmp_path / 'state.db'}"
        w = World(zoho.url, ringostat.url, tmp_path / "callsync.toml", tmp_path, clock, http)
        w.store_url = url
        w.config = {
            "zoho": {
                "accounts_url": zoho.url,
                "api_domain": zoho.url,
                "client_id": "cid",
                "client_secret": "secret",
                "refresh_token": "refresh",
                "backoff_base_s": 0.0,
                "backoff_max_s": 0.0,
            },
            "ringostat": {
                "base_url": ringostat.url,
                "auth_key": "test-key",
                "timezone": "Europe/Kyiv",
                "initial_lookback_hours": 48,
            },
            "scenario": {
                "top_manager": "top@acme.test",
                "company_timezone": "Europe/Kyiv",
                "company_numbers": ["+380441234567"],
            },
            "employees": [
                {"zoho_user": "anna@acme.test", "sip": ["anna_sip"], "numbers": ["+380501112233"]},
                {"zoho_user": "boris@acme.test", "sip": ["boris_sip"]},
            ],
            "store": {
                "url": url,
                "duckdb_path": str(tmp_path / "reports.duckdb"),
                "data_docs_dir": str(tmp_path / "docs"),
            },
        }
        w.write_config()
        yield w
