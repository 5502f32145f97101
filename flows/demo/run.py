"""``callsync demo``: the whole product on the bundled emulators, no account needed.

1. generate a company (TOP manager, agents, existing Leads/Contacts/Deals) and days of calls;
2. start both emulators on 127.0.0.1 and connect to the demo's Prefect server (``prefect/`` in the
   demo's folder, started if needed and left running like every callsync installation's server,
   reused by the next demo; ``--keep-ui`` stays in the foreground and stops it on Ctrl-C or
   SIGTERM) unless ``PREFECT_API_URL`` names one;
3. replay the call log as it grows (calls in progress that finish later, late recordings) and run
   the real sync flow after each step, as the every-minute schedule would;
4. real time (:mod:`flows.demo.live`): live calls through Ringostat's webhooks — leads during the
   calls, a receiver outage the log sync heals, the counts that prove nothing was written twice;
   then call-backs (:mod:`flows.demo.callbacks`): three missed calls give one call-back task that
   the agent's call completes, and an after-hours call-back is due in the next working morning;
5. let sales happen in the CRM (some new leads converted, some deals won);
6. run the reports flow (pull-back from Zoho, DuckDB) and print the summary and conversion table.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import tomli_w
from rich.console import Console

from emulators.demo_data import DemoDataset, generate_demo
from flows.cli.render import GX_OFFLINE_NOTE
from flows.demo.callbacks import BUSINESS_HOURS
from flows.demo.emulate import (
    DEMO_TIMEZONE,
    Emulators,
    emulator_config,
    post_calls,
    running_emulators,
)
from flows.demo.live import webhook_token
from flows.runtime.paths import DEMO_WORKDIR
from flows.runtime.prefect_server import (
    InstallationServer,
    PrefectTarget,
    drain_prefect_clients,
    point_prefect_at,
    resolve_prefect_home,
)


def write_config(
    workdir: Path,
    emu: Emulators,
    dataset: DemoDataset,
    days: int,
    *,
    zoho: Mapping[str, Any] | None = None,
    webhook: bool = True,
) -> Path:
    """The config of a run against the emulators and a generated company (the demo's, the
    benchmark's): ``zoho`` adds keys to ``[zoho]``; ``webhook=False`` leaves the receiver off."""
    config = emulator_config(
        emu,
        dataset,
        lookback_hours=24 * (days + 1),
        store={
            "url": f"sqlite:///{(workdir / 'state.db').resolve()}",
            "duckdb_path": str((workdir / "reports.duckdb").resolve()),
            "data_docs_dir": str((workdir / "data_docs").resolve()),
        },
        webhook={"token": webhook_token()} if webhook else None,
        zoho=zoho,
    )
    # The demo's company works Mon–Fri 09:00–18:00: a call-back deadline falls in those hours.
    config["scenario"]["business_hours"] = dict(BUSINESS_HOURS)
    path = workdir / "config.toml"
    path.write_bytes(tomli_w.dumps(config).encode())
    return path


async def simulate_sales(config: Path, share_converted: int = 3) -> tuple[int, int]:
    """Convert every ``share_converted``-th lead callsync created; win half of those deals."""
    from models.settings import load_settings
    from tasks.pipeline.context import open_context

    settings = load_settings(config)
    converted = won = 0
    async with open_context(settings) as ctx:
        lead_ids = sorted(ctx.store.created_ids("Leads"))
        for number, lead_id in enumerate(lead_ids[::share_converted]):
            deal = None
            if number % 2 == 0:
                deal = {
                    "Deal_Name": f"Order {lead_id[-5:]}",
                    "Stage": "Closed Won",
                    "Amount": float(500 + (int(lead_id) % 40) * 125),
                    "Closing_Date": datetime.now(UTC).date().isoformat(),
                }
                won += 1
            await ctx.zoho.convert_lead(lead_id, deal=deal)
            converted += 1
    return converted, won


def _clear_workdir(workdir: Path) -> None:
    """Empty the demo's folder but keep its Prefect home: its server may be running, and the
    previous demos' runs stay in its UI."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in workdir.iterdir():
        if entry.name == "prefect":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def run_demo(*, days: int, calls_per_day: int, seed: int, workdir: Path, keep_ui: bool) -> None:
    console = Console()
    started = time.perf_counter()
    _clear_workdir(workdir)
    console.rule("[bold]callsync demo")
    dataset = generate_demo(
        seed=seed, days=days, calls_per_day=calls_per_day, timezone=DEMO_TIMEZONE
    )
    console.print(
        # The emulated org starts with its admin: the runs count one user more than generated.
        f"Generated a company: {len(dataset.zoho_seed.get('users', []))} Zoho users (and the "
        "org's admin), "
        f"{sum(len(dataset.zoho_seed.get(m, [])) for m in ('Leads', 'Contacts', 'Deals'))} "
        f"existing CRM records, {len(dataset.final_calls)} calls over {days} days."
    )
    console.print("Connecting to the demo's Prefect server (started if needed) …")
    target = resolve_prefect_home(workdir.absolute() / "prefect")
    assert target is not None
    point_prefect_at(target)
    more = "" if workdir == DEMO_WORKDIR else f" --config {workdir / 'config.toml'}"
    try:
        with running_emulators() as emu:
            _run(console, emu, dataset, workdir, days)
        elapsed = time.perf_counter() - started
        console.rule(f"[bold]demo finished in {elapsed:.0f}s")
        console.print(f"State store (SQLite): {workdir / 'state.db'}")
        console.print(f"DuckDB reports:       {workdir / 'reports.duckdb'}")
        console.print(f"HTML report (offline): {workdir / 'report.html'}")
        console.print(f"GX Data Docs:         {workdir / 'data_docs' / 'index.html'}")
        console.print(f"  ({GX_OFFLINE_NOTE})", style="dim")
        console.print(f"Config used:          {workdir / 'config.toml'}")
        console.print(f"More: .venv/bin/callsync report{more}")
    finally:
        drain_prefect_clients()
    if keep_ui:
        _keep_ui(console, target)
    else:
        console.print(f"Prefect UI with these runs: {target.ui_url}")
        if target.home is not None:
            console.print(
                "  (the demo's Prefect server is left running for the next demo and for "
                f"`callsync report --refresh{more}`; `callsync ui --stop"
                f" --config {workdir / 'config.toml'}` stops it)"
            )


def _keep_ui(console: Console, target: PrefectTarget) -> None:
    """Stay in the foreground with the UI up; on Ctrl-C or SIGTERM (see
    :func:`sigterm_as_interrupt`) stop the demo's Prefect server."""
    try:
        # Printed inside the try: a SIGTERM sent as soon as the line is read must land here too.
        console.print(f"Prefect UI: {target.ui_url}  (Ctrl-C to stop)")
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        if target.home is not None:
            InstallationServer(target.home).stop()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a service manager, a container stop) stops the demo the way Ctrl-C
    does: the KeyboardInterrupt unwinds through the ``finally`` blocks that stop the emulators
    and the Prefect server. Outside the main thread signals cannot be handled; nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(console: Console, emu: Emulators, dataset: DemoDataset, workdir: Path, days: int) -> None:
    from flows.cli.render import print_summary
    from flows.demo.callbacks import run_callbacks
    from flows.demo.live import run_live
    from flows.reports import refresh_reports
    from flows.sync import sync_calls
    from tasks.reporting.render import load_report, render_terminal, to_html

    with httpx.Client(timeout=60) as http:
        http.post(f"{emu.zoho_url}/__emulator__/seed", json=dataset.zoho_seed).raise_for_status()
        config = write_config(workdir, emu, dataset, days)
        for number, (phase, as_of) in enumerate(
            zip(dataset.phases, dataset.phase_times, strict=True), start=1
        ):
            post_calls(http, emu, phase)
            console.rule(
                f"sync run {number}/{len(dataset.phases)} (as of {as_of:%Y-%m-%d %H:%M} UTC)"
            )
            result = asyncio.run(sync_calls(config=str(config), as_of=as_of))
            print_summary(result, console, data_docs_note=False, tz=DEMO_TIMEZONE)

        after = run_live(console, http, emu, dataset, config)
        run_callbacks(console, http, emu, dataset, config, after)

        console.rule("sales happen in Zoho")
        converted, won = asyncio.run(simulate_sales(config))
        console.print(f"Converted {converted} of the new leads; {won} deals closed won.")
        console.rule("reports")
        asyncio.run(refresh_reports(config=str(config)))
        stats = http.get(f"{emu.zoho_url}/__emulator__/stats").json()
        dump = http.get(f"{emu.zoho_url}/__emulator__/dump").json()
    console.print(
        "Zoho org now holds "
        + ", ".join(f"{len(dump.get(m, []))} {m}" for m in ("Leads", "Contacts", "Deals", "Tasks"))
        + f"; the emulator counted {stats['requests']} API requests and {stats['credits']} credits."
    )
    report = load_report(workdir / "reports.duckdb", date_from=None, date_to=None)
    render_terminal(report, console, max_rows=8)
    (workdir / "report.html").write_text(to_html(report), encoding="utf-8")
