"""``callsync emulate``: both emulators on 127.0.0.1 until stopped, and a config that uses them.

With ``--data demo`` the emulators hold a generated company whose calls are of the last days
(the newest ended this morning, or yesterday morning before 09:00 local time): a ``callsync
sync`` or ``plan`` run "now" against them finds calls. ``--write-config F`` writes a config for
these emulators: their URLs, demo credentials, the company's TOP manager, numbers and employee
map, a webhook token (and the Ringostat emulator set to send its webhooks to the receiver that
``callsync serve`` or ``listen`` runs with it), the state store in ``<F's stem>-state/`` beside F.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import tomli_w
import typer

from emulators.demo_data import DemoDataset, generate_demo, start_before
from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho

DEMO_TIMEZONE = "Europe/Kyiv"
EMULATOR_ADMIN = "admin@callsync-demo.com"
"""The admin user every emulated Zoho org starts with (the TOP manager of an empty org)."""
EMULATE_DAYS = 3


@dataclass(frozen=True)
class Emulators:
    zoho_url: str
    ringostat_url: str
    auth_key: str


@contextmanager
def running_emulators(
    *, zoho_port: int = 0, ringostat_port: int = 0, auth_key: str = "demo-key"
) -> Iterator[Emulators]:
    """Start the Zoho and Ringostat emulators; stop them on exit."""
    with (
        BackgroundServer(create_zoho(), port=zoho_port) as zoho,
        BackgroundServer(create_ringostat(auth_key=auth_key), port=ringostat_port) as ringostat,
    ):
        yield Emulators(zoho.url, ringostat.url, auth_key)


def load_dataset(emu: Emulators, dataset: DemoDataset, *, phases: int | None = None) -> None:
    """Seed the Zoho org and post call rows through the emulators' admin APIs."""
    with httpx.Client(timeout=60) as http:
        http.post(f"{emu.zoho_url}/__emulator__/seed", json=dataset.zoho_seed).raise_for_status()
        rows = (
            dataset.final_calls
            if phases is None
            else [r for p in dataset.phases[:phases] for r in p]
        )
        post_calls(http, emu, rows)


def post_calls(http: httpx.Client, emu: Emulators, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), 2000):
        http.post(
            f"{emu.ringostat_url}/__emulator__/calls", json=rows[start : start + 2000]
        ).raise_for_status()


def emulator_config(
    emu: Emulators,
    dataset: DemoDataset | None,
    *,
    lookback_hours: int,
    store: Mapping[str, str],
    webhook: Mapping[str, Any] | None = None,
    zoho: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A config (as TOML data) for a run against ``emu`` and ``dataset``'s company (an empty
    org's admin as the TOP manager without one). ``lookback_hours``: how far the first run
    reads back; ``store``: the ``[store]`` keys; ``webhook``: the ``[webhook]`` keys, if any."""
    config: dict[str, Any] = {
        "zoho": {
            "accounts_url": emu.zoho_url,
            "api_domain": emu.zoho_url,
            "client_id": "demo-client",
            "client_secret": "demo-secret",
            "refresh_token": "demo-refresh-token",
            **(zoho or {}),
        },
        "ringostat": {
            "base_url": emu.ringostat_url,
            "auth_key": emu.auth_key,
            "timezone": dataset.timezone if dataset else DEMO_TIMEZONE,
            "initial_lookback_hours": lookback_hours,
        },
        "scenario": {
            "top_manager": dataset.top_manager if dataset else EMULATOR_ADMIN,
            "company_timezone": dataset.timezone if dataset else DEMO_TIMEZONE,
            "company_numbers": list(dataset.company_numbers) if dataset else [],
        },
        "employees": [dict(e) for e in dataset.employees] if dataset else [],
        "store": dict(store),
    }
    if webhook:
        config["webhook"] = dict(webhook)
    return config


def write_emulator_config(
    path: Path, emu: Emulators, dataset: DemoDataset | None, *, days: int, token: str
) -> Path:
    """``callsync emulate --write-config``: the config file, its store in ``<stem>-state/``
    beside it (relative paths: the folder can be moved with the file)."""
    state = f"{path.stem}-state"
    config = emulator_config(
        emu,
        dataset,
        # The company's days are whole local days up to today; a day more than they span
        # covers the hours between midnight there and now (after 22:00 UTC Kyiv is already
        # a day ahead), so a first run "now" reads every one of its calls.
        lookback_hours=24 * (days + 2),
        store={
            "url": f"sqlite:///{state}/state.db",
            "duckdb_path": f"{state}/reports.duckdb",
            "data_docs_dir": f"{state}/data_docs",
        },
        webhook={"token": token},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tomli_w.dumps(config).encode())
    return path


def point_webhooks(http: httpx.Client, emu: Emulators, receiver_url: str, token: str) -> None:
    """Tell the Ringostat emulator to send its three webhooks to ``receiver_url``, as a
    Ringostat admin sets them up (GET for the pickup, JSON POSTs after the call)."""
    base = f"{receiver_url}/ringostat"
    hooks = {
        "webhooks": [
            {"event": "pickup", "url": f"{base}/pickup?token={token}", "method": "GET"},
            {"event": "after_call", "url": f"{base}/after-call?token={token}"},
            {"event": "outgoing_after_call", "url": f"{base}/outgoing-after-call?token={token}"},
        ]
    }
    http.put(f"{emu.ringostat_url}/__emulator__/webhooks", json=hooks).raise_for_status()


def serve_emulators(
    *,
    zoho_port: int,
    ringostat_port: int,
    auth_key: str,
    data: str,
    seed: int,
    write_config: Path | None = None,
    now: datetime | None = None,
) -> None:
    from flows.demo.live import webhook_token
    from models.settings import WebhookSettings

    now = now or datetime.now(UTC)
    with running_emulators(
        zoho_port=zoho_port, ringostat_port=ringostat_port, auth_key=auth_key
    ) as emu:
        dataset = None
        if data == "demo":
            start = start_before(now, EMULATE_DAYS, DEMO_TIMEZONE)
            dataset = generate_demo(
                seed=seed, days=EMULATE_DAYS, start=start, timezone=DEMO_TIMEZONE
            )
            load_dataset(emu, dataset)
            users = len(dataset.zoho_seed.get("users", []))
            typer.echo(
                f"Loaded a demo company: {users} Zoho users (and the org's admin), "
                f"{len(dataset.final_calls)} calls from {start} to "
                f"{dataset.phase_times[-1]:%Y-%m-%d %H:%M} {DEMO_TIMEZONE}; "
                f"TOP manager {dataset.top_manager}"
            )
        typer.echo(f"Zoho CRM emulator:  {emu.zoho_url}  (accounts_url and api_domain)")
        typer.echo(f"Ringostat emulator: {emu.ringostat_url}  (Auth-key: {auth_key})")
        if write_config is not None:
            token = webhook_token()
            path = write_emulator_config(write_config, emu, dataset, days=EMULATE_DAYS, token=token)
            receiver = WebhookSettings()
            with httpx.Client(timeout=30) as http:
                point_webhooks(http, emu, f"http://{receiver.host}:{receiver.port}", token)
            typer.echo(
                f"Wrote {path}: these emulators, the company's employees, a webhook token; "
                f"state in {path.parent / (path.stem + '-state')}"
            )
            typer.echo(
                f"  try: callsync plan --config {path}   (then sync, report, serve: their "
                f"webhooks go to {receiver.host}:{receiver.port})"
            )
        typer.echo("Admin API under /__emulator__ on each (see the README). Ctrl-C to stop.")
        # Ctrl-C (SIGINT) stops it even when a script started it in the background, which
        # starts a process with SIGINT ignored (Python then never raises KeyboardInterrupt).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            typer.echo("stopping")
