"""``callsync emulate``: both emulators on 127.0.0.1 until stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import typer

from emulators.demo_data import DemoDataset, generate_demo
from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho


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


def serve_emulators(
    *, zoho_port: int, ringostat_port: int, auth_key: str, data: str, seed: int
) -> None:
    with running_emulators(
        zoho_port=zoho_port, ringostat_port=ringostat_port, auth_key=auth_key
    ) as emu:
        if data == "demo":
            dataset = generate_demo(seed=seed)
            load_dataset(emu, dataset)
            typer.echo(
                f"Loaded a demo company: {len(dataset.zoho_seed.get('users', []))} users, "
                f"{len(dataset.final_calls)} calls; TOP manager {dataset.top_manager}"
            )
        typer.echo(f"Zoho CRM emulator:  {emu.zoho_url}  (accounts_url and api_domain)")
        typer.echo(f"Ringostat emulator: {emu.ringostat_url}  (Auth-key: {auth_key})")
        typer.echo("Admin API under /__emulator__ on each. Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            typer.echo("stopping")
