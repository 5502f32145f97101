"""The reliability suite (SPEC 13): what a scheduled service meets over months, each point proven
by a test that fails without its fix.

Reduced size by default (it runs in CI); ``CALLSYNC_RELIABILITY_FULL=1`` runs the full size
(more kill points, more runs, more calls). The emulators run on 127.0.0.1; clocks are injected.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from emulators.zoho.state import ZohoState
from models.settings import Settings

Sleep = Callable[[float], Awaitable[None]]
FULL = os.environ.get("CALLSYNC_RELIABILITY_FULL", "") not in ("", "0")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def size(reduced: int, full: int) -> int:
    return full if FULL else reduced


class Clock:
    """One clock for the emulator, the store and the clients: fixed, moved by the tests."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Services:
    zoho_url: str
    ringostat_url: str
    clock: Clock
    http: httpx.Client
    workdir: Path
    zoho_state: ZohoState

    def settings_dict(self, **store: Any) -> dict[str, Any]:
        return {
            "zoho": {
                "accounts_url": self.zoho_url,
                "api_domain": self.zoho_url,
                "client_id": "1000.client",
                "client_secret": "secret",
                "refresh_token": "1000.refresh",
                "backoff_base_s": 0.0,
                "backoff_max_s": 0.0,
            },
            "ringostat": {
                "base_url": self.ringostat_url,
                "auth_key": "test-key",
                "timezone": "Europe/Kyiv",
                "initial_lookback_hours": 48,
            },
            "scenario": {
                "top_manager": "admin@callsync-demo.com",
                "company_numbers": ["+380441234567"],
            },
            "employees": [{"zoho_user": "admin@callsync-demo.com", "sip": ["top_sip"]}],
            "store": {
                "url": f"sqlite:///{self.workdir / 'state.db'}",
                "duckdb_path": str(self.workdir / "reports.duckdb"),
                "data_docs_dir": str(self.workdir / "docs"),
                **store,
            },
        }

    def settings(self, **zoho: Any) -> Settings:
        values = self.settings_dict()
        values["zoho"].update(zoho)
        return Settings(**values)

    def faults(self, **faults: Any) -> None:
        self.http.put(f"{self.zoho_url}/__emulator__/faults", json=faults).raise_for_status()

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"{self.zoho_url}/__emulator__/stats").json()
        return answer

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        answer: dict[str, list[dict[str, Any]]] = self.http.get(
            f"{self.zoho_url}/__emulator__/dump"
        ).json()
        return answer

    def post_calls(self, rows: list[dict[str, Any]]) -> None:
        self.http.post(f"{self.ringostat_url}/__emulator__/calls", json=rows).raise_for_status()


@contextmanager
def start_services(workdir: Path, *, sleep: Sleep | None = None) -> Iterator[Services]:
    """Both emulators on 127.0.0.1 and a work folder for the store and the reports.

    ``sleep`` serves the Zoho emulator's ``latency_ms`` fault (a gate, in the tests)."""
    workdir.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    app = create_zoho(clock=clock, sleep=sleep)
    with (
        BackgroundServer(app) as zoho,
        BackgroundServer(create_ringostat(auth_key="test-key")) as ringostat,
        httpx.Client(timeout=30) as http,
    ):
        yield Services(zoho.url, ringostat.url, clock, http, workdir, app.state.zoho)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with start_services(tmp_path / "org") as found:
        yield found


def generated_calls(count: int, seed: int) -> list[dict[str, Any]]:
    """A day of inbound and outbound calls: new and repeat callers, every outcome, in Kyiv time
    on 2026-03-02 between 08:00 and 11:59 (before :data:`NOW`)."""
    import random

    rng = random.Random(seed)
    callers = [f"+3805{rng.randrange(10**8):08d}" for _ in range(max(1, count * 2 // 3))]
    rows = []
    for i in range(count):
        minute = i * 240 // max(1, count)
        caller = rng.choice(callers)
        disposition = rng.choice(["ANSWERED", "ANSWERED", "NO ANSWER", "VOICEMAIL", "BUSY"])
        outbound = rng.random() < 0.15
        row: dict[str, Any] = {
            "uniqueid": f"r{seed}-{i:05d}",
            "calldate": f"2026-03-02 {8 + minute // 60:02d}:{minute % 60:02d}:{i % 60:02d}",
            "call_type": "out" if outbound else "in",
            "disposition": disposition,
            "caller": '"Top" <top_sip>' if outbound else caller,
            "dst": caller if outbound else "+380441234567",
            "connected_with": rng.choice(["top_sip", "stranger_sip"]) if not outbound else "",
            "duration": 90,
            "billsec": 60 if disposition == "ANSWERED" else 0,
            "utm_source": rng.choice(["google", "facebook", ""]),
        }
        rows.append(row)
    return rows
