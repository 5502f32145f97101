"""The simulated companies: each a generated company with a day of calls, its own Zoho org and
Ringostat project on the shared emulators, and its own file in a tenants directory.

A faulty tenant fails the way real ones do: ``revoked`` — Zoho no longer accepts its refresh
token (``invalid_code``); ``credits`` — its org's 24-hour credit budget is spent (429).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
import tomli_w

from emulators.demo_data import DemoDataset, generate_demo
from models.tenants import INSTALLATION_FILE

Fault = Literal["revoked", "credits"]
DAY = date(2026, 3, 2)
"""The simulated day (a fixed date: the run's window is given, never the wall clock's)."""
TIMEZONE = "Europe/Kyiv"


@dataclass(frozen=True)
class SimTenant:
    name: str
    dataset: DemoDataset
    fault: Fault | None = None

    @property
    def client_id(self) -> str:
        return f"cid-{self.name}"

    @property
    def refresh_token(self) -> str:
        return f"rt-{self.name}"

    @property
    def auth_key(self) -> str:
        return f"key-{self.name}"

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The day's calls as the call log ends up showing them."""
        return self.dataset.final_calls


def window() -> tuple[str, str]:
    """The sync window every simulated run is given: the day and the morning after (every call
    of the day has ended and has its recording by then)."""
    zone = ZoneInfo(TIMEZONE)
    start = datetime.combine(DAY, time(0), tzinfo=zone)
    return start.isoformat(), (start + timedelta(days=1, hours=12)).isoformat()


def make_tenants(
    count: int, *, calls_per_tenant: int, faulty: int, prefix: str, seed: int = 1
) -> list[SimTenant]:
    """``count`` companies; the first ``faulty`` have a revoked refresh token, the next
    ``faulty`` have spent their credits."""
    if 2 * faulty > count:
        raise ValueError(f"--faulty {faulty} needs at least {2 * faulty} tenants, got {count}")
    tenants = []
    for i in range(count):
        fault: Fault | None = "revoked" if i < faulty else "credits" if i < 2 * faulty else None
        dataset = generate_demo(
            seed=seed * 100_003 + i,
            days=1,
            calls_per_day=max(calls_per_tenant, 10),
            start=DAY,
            timezone=TIMEZONE,
        )
        tenants.append(SimTenant(f"{prefix}-{i + 1:04d}", dataset, fault))
    return tenants


def seed_emulators(
    http: httpx.Client,
    zoho_url: str,
    ringostat_url: str,
    tenants: Sequence[SimTenant],
    *,
    latency_ms: float,
    org_concurrency: int,
) -> None:
    """Each tenant's org and project on the emulators, addressed by name (their admin APIs)."""
    for t in tenants:
        org = f"{zoho_url}/__emulator__/orgs/{t.name}"
        http.post(f"{org}/reset").raise_for_status()
        valid = f"{t.refresh_token}-rotated" if t.fault == "revoked" else t.refresh_token
        oauth = {"client_ids": [t.client_id], "refresh_tokens": [valid]}
        http.post(f"{org}/seed", json={**t.dataset.zoho_seed, "oauth": oauth}).raise_for_status()
        faults: dict[str, Any] = {"latency_ms": latency_ms, "concurrency_limit": org_concurrency}
        if t.fault == "credits":
            faults["credit_budget"] = 0
        http.put(f"{org}/faults", json=faults).raise_for_status()
        project = f"{ringostat_url}/__emulator__/projects/{t.name}"
        http.post(f"{project}/reset", json={"auth_key": t.auth_key}).raise_for_status()
        for rows in _chunks(t.calls, 2000):
            http.post(f"{project}/calls", json=rows).raise_for_status()


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def write_tenants_dir(
    directory: Path,
    tenants: Sequence[SimTenant],
    *,
    store_url: str,
    zoho_url: str,
    ringostat_url: str,
    max_concurrency: int,
) -> None:
    """``installation.toml`` (the store) and one ``<tenant>.toml`` per tenant."""
    directory.mkdir(parents=True, exist_ok=True)
    installation = {
        "store": {
            "url": store_url,
            "duckdb_path": "reports/{tenant}.duckdb",
            "data_docs_dir": "data_docs/{tenant}",
        }
    }
    (directory / INSTALLATION_FILE).write_bytes(tomli_w.dumps(installation).encode())
    for t in tenants:
        config = {
            "zoho": {
                "accounts_url": zoho_url,
                "api_domain": zoho_url,
                "client_id": t.client_id,
                "client_secret": "simulated",
                "refresh_token": t.refresh_token,
                "max_concurrency": max_concurrency,
                "org_max_concurrency": max_concurrency,
                # A spent budget or a revoked token fails the run after one try: the
                # simulation must not spend minutes in backoff to learn it.
                "max_retries": 2,
                "backoff_base_s": 0.05,
                "backoff_max_s": 0.5,
            },
            "ringostat": {"base_url": ringostat_url, "auth_key": t.auth_key, "timezone": TIMEZONE},
            "scenario": {
                "top_manager": t.dataset.top_manager,
                "company_timezone": TIMEZONE,
                "company_numbers": list(t.dataset.company_numbers),
            },
            "employees": [dict(e) for e in t.dataset.employees],
        }
        (directory / f"{t.name}.toml").write_bytes(tomli_w.dumps(config).encode())
