"""The ``callsync`` command line.

Every command exits 0 on success and non-zero with a one-line reason on failure. Heavy imports
(Prefect, Great Expectations) happen inside the commands so that ``--help`` stays quick.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from flows.cli.oneline import OneLineUsageErrors
from flows.cli.tenants import app as tenants_app
from flows.runtime.paths import DEMO_WORKDIR

app = typer.Typer(
    name="callsync",
    cls=OneLineUsageErrors,
    help="Ringostat call log → Zoho CRM leads and tasks, exactly once; "
    "Great Expectations checks; DuckDB conversion reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(tenants_app)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file (default: $CALLSYNC_CONFIG; every key can also come from "
        "CALLSYNC_<SECTION>__<KEY>).",
        dir_okay=False,
    ),
]
TenantsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--tenants-dir",
        help="Tenants directory: one <tenant>.toml per company and installation.toml "
        "(default: $CALLSYNC_TENANTS_DIR).",
        file_okay=False,
    ),
]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="The company (a file of the tenants directory)."),
]
FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from", help="Window start: ISO 8601 date or date-time (naive = Ringostat's zone)."
    ),
]
ToOpt = Annotated[
    str | None,
    typer.Option("--to", help="Window end: ISO 8601 date or date-time (default: now)."),
]

T = TypeVar("T")

_debug = False
"""Set by the global ``--debug`` option: failures show their traceback."""


@app.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option("--debug", help="On failure, show the full traceback (and Prefect's)."),
    ] = False,
) -> None:
    global _debug
    _debug = debug


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"callsync: error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body; any failure becomes one line on stderr and exit status 1 (with
    ``--debug``, the exception and its traceback instead)."""
    from flows.cli.oneline import describe

    try:
        return fn()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:
        if _debug:
            raise
        fail(describe(exc))


def connect_prefect(
    config: Path | None, tenants_dir: Path | None = None, tenant: str | None = None
) -> None:
    """Point Prefect at this installation's server before any flow module is imported:
    ``PREFECT_API_URL`` when set, else the local server beside the state store (started when
    needed and left running for the next command; see flows/runtime/prefect_server.py)."""
    from flows.runtime.prefect_server import use_prefect

    target = guarded(lambda: use_prefect(command_settings(config, tenants_dir, tenant)))
    if target.started:
        typer.echo(
            f"callsync: started this installation's Prefect server, UI at {target.ui_url} "
            "(left running for the next commands; `callsync ui --stop` stops it)",
            err=True,
        )


def command_settings(
    config: Path | None, tenants_dir: Path | None = None, tenant: str | None = None
) -> Any:
    """A command's settings: ``--tenant`` of the tenants directory, else the config file; a
    tenants directory without ``--tenant`` gives the installation's own (store, Prefect)."""
    from models.settings import Settings
    from models.tenants import TenantsDir, load_tenant_settings

    directory = TenantsDir.from_option(tenants_dir) if config is None else None
    if directory is not None and tenant is None:
        return Settings(store=directory.store())
    return load_tenant_settings(config, tenants_dir=tenants_dir, tenant=tenant)


def installation_store_url(config: Path | None, tenants_dir: Path | None) -> str | None:
    """The installation's state store: the tenants directory's, else the config file's (None
    when neither is given)."""
    from models.settings import CONFIG_ENV, load_settings
    from models.tenants import TenantsDir

    directory = TenantsDir.from_option(tenants_dir) if config is None else None
    if directory is not None:
        return directory.store().url
    if config is not None or os.environ.get(CONFIG_ENV):
        return load_settings(config).store.url
    return None


def _company_timezone(
    config: Path | None, tenants_dir: Path | None = None, tenant: str | None = None
) -> str:
    settings = guarded(lambda: command_settings(config, tenants_dir, tenant))
    return str(settings.scenario.company_timezone)


def _report_config(config: Path | None) -> Path | None:
    """The config ``callsync report`` will use (the demo's when given none, right after a demo)."""
    from flows.reports import report_config
    from models.settings import load_settings

    return guarded(lambda: report_config(config, load_settings(config))) or config


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    if not _debug and "prefect" in sys.modules:
        from flows.cli.oneline import quiet_console_tracebacks

        quiet_console_tracebacks()
    return guarded(lambda: asyncio.run(coro_fn()))


def checked(
    config: Path | None,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    zoho: bool = True,
    ringostat: bool = True,
    tenants_dir: Path | None = None,
    tenant: str | None = None,
) -> None:
    """Configuration, arguments and reachability, before Prefect or any run starts."""
    from datetime import UTC, datetime

    from flows.cli.preflight import preflight

    guarded(
        lambda: preflight(
            config,
            now=datetime.now(UTC),
            date_from=date_from,
            date_to=date_to,
            zoho=zoho,
            ringostat=ringostat,
            tenants_dir=tenants_dir,
            tenant=tenant,
        )
    )


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Days of generated calls.", min=1, max=14)] = 3,
    calls_per_day: Annotated[int, typer.Option(help="Calls per day.", min=10, max=20000)] = 400,
    seed: Annotated[int, typer.Option(help="Seed of the generated company and calls.")] = 7,
    workdir: Annotated[
        Path, typer.Option(help="Where the demo keeps its config, state, reports and Data Docs.")
    ] = DEMO_WORKDIR,
    keep_ui: Annotated[
        bool,
        typer.Option("--keep-ui", help="Keep the Prefect server (UI) running after the demo."),
    ] = False,
) -> None:
    """Run the whole pipeline on the bundled emulators with a generated company: no account needed."""
    from flows.demo.run import run_demo, sigterm_as_interrupt

    with sigterm_as_interrupt():
        guarded(
            lambda: run_demo(
                days=days, calls_per_day=calls_per_day, seed=seed, workdir=workdir, keep_ui=keep_ui
            )
        )


@app.command()
def sync(
    config: ConfigOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    tenants_dir: TenantsDirOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Run one sync: read calls since the cursor (or --from/--to), write them to Zoho, report."""
    checked(config, date_from=from_, date_to=to, tenants_dir=tenants_dir, tenant=tenant)
    connect_prefect(config, tenants_dir, tenant)
    from flows.cli.render import print_summary
    from flows.sync import sync_calls

    result = run_async(
        lambda: sync_calls(
            config=str(config) if config else None,
            window_from=from_,
            window_to=to,
            tenant=tenant,
            tenants_dir=str(tenants_dir) if tenants_dir else None,
        )
    )
    print_summary(result, tz=_company_timezone(config, tenants_dir, tenant))
    if result.get("failures"):
        raise typer.Exit(2)


@app.command()
def plan(
    config: ConfigOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    calls: Annotated[
        Path | None,
        typer.Option(
            help="Offline: a JSON array of Ringostat call rows (needs --crm).", dir_okay=False
        ),
    ] = None,
    crm: Annotated[
        Path | None,
        typer.Option(
            help='Offline: a CRM snapshot {"users","Leads","Contacts","Deals"} in Zoho shapes.',
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Print the planned Zoho writes, one JSON object per call; write nothing."""
    if (calls is None) != (crm is None):
        fail("--calls and --crm go together (an offline plan needs both files)")
    if calls is not None and crm is not None:
        from flows.cli.preflight import SCENARIO_KEYS, require
        from models.settings import load_settings
        from tasks.offline_plan import plan_files

        problems: list[str] = []

        def offline() -> list[dict[str, Any]]:
            settings = load_settings(config)
            require(settings, SCENARIO_KEYS, config=config)
            return plan_files(calls, crm, settings, problems=problems)

        for item in guarded(offline):
            typer.echo(json.dumps(item, ensure_ascii=False, sort_keys=True))
        for problem in problems:
            typer.echo(f"callsync: warning: employee map: {problem}", err=True)
        return

    checked(config, date_from=from_, date_to=to)
    connect_prefect(config)
    from flows.sync import sync_calls

    result = run_async(
        lambda: sync_calls(
            config=str(config) if config else None, window_from=from_, window_to=to, dry_run=True
        )
    )
    for item in result["plans"]:
        typer.echo(json.dumps(item, ensure_ascii=False, sort_keys=True))
    for problem in result.get("employee_problems", []):
        typer.echo(f"callsync: warning: employee map: {problem}", err=True)
    # On stderr: stdout stays one JSON object per call, for whatever reads it.
    from flows.cli.render import plan_footer

    typer.echo(plan_footer(result, _company_timezone(config)), err=True)


@app.command()
def emulate(
    zoho_port: Annotated[int, typer.Option(help="Port of the Zoho CRM emulator.")] = 8701,
    ringostat_port: Annotated[int, typer.Option(help="Port of the Ringostat emulator.")] = 8702,
    ringostat_auth_key: Annotated[
        str, typer.Option(help="The Auth-key the Ringostat emulator accepts.")
    ] = "demo-key",
    data: Annotated[
        str, typer.Option(help="demo: a generated company and calls; empty: nothing.")
    ] = "demo",
    seed: Annotated[int, typer.Option(help="Seed for --data demo.")] = 7,
    write_config: Annotated[
        Path | None,
        typer.Option(
            "--write-config",
            help="Write a config for these emulators to this file (its state store beside it).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Serve both emulators on 127.0.0.1 until stopped (Ctrl-C); prints their base URLs.

    --data demo holds a generated company with calls of the last three days."""
    if data not in ("demo", "empty"):
        fail("--data is 'demo' or 'empty'")
    from flows.demo.emulate import serve_emulators

    guarded(
        lambda: serve_emulators(
            zoho_port=zoho_port,
            ringostat_port=ringostat_port,
            auth_key=ringostat_auth_key,
            data=data,
            seed=seed,
            write_config=write_config,
        )
    )


@app.command()
def report(
    config: ConfigOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    format_: Annotated[
        str, typer.Option("--format", help="table (terminal), json or csv.")
    ] = "table",
    html: Annotated[
        Path | None,
        typer.Option(help="Also write one self-contained HTML report with charts to this file."),
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option(help="First pull lead conversions and deal stages back from Zoho."),
    ] = False,
    view_name: Annotated[
        str | None,
        typer.Option(
            "--view",
            help="Only this view: funnel_totals, conversion_by_source, conversion_by_agent, "
            "daily_funnel, missed_call_callbacks_summary or missed_call_callbacks.",
        ),
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Write every view (or the --view) to DIR/<view>.csv instead of printing.",
            file_okay=False,
        ),
    ] = None,
    tenants_dir: TenantsDirOpt = None,
    tenant: TenantOpt = None,
    all_tenants: Annotated[
        bool,
        typer.Option(
            "--all-tenants", help="Every tenant of the directory, one report with a tenant column."
        ),
    ] = False,
) -> None:
    """Conversion analytics from the DuckDB reports: by source, by agent, callbacks, funnel.

    Without --config, right after `callsync demo`, it shows the demo's report."""
    from tasks.reporting.render import VIEWS

    if format_ not in ("table", "json", "csv"):
        fail("--format is table, json or csv")
    if view_name is not None and view_name not in VIEWS:
        fail(f"--view {view_name}: the views are " + ", ".join(VIEWS))
    if format_ == "csv" and view_name is None and csv_dir is None:
        fail(
            "--format csv prints one view: add --view NAME ("
            + ", ".join(VIEWS)
            + "), or write them all with --csv DIR"
        )
    if refresh:
        checked(config, ringostat=False)
        connect_prefect(_report_config(config))
    from flows.reports import print_report

    guarded(
        lambda: print_report(
            config=config,
            date_from=from_,
            date_to=to,
            fmt=format_,
            html=html,
            refresh=refresh,
            view_name=view_name,
            csv_dir=csv_dir,
            tenants_dir=tenants_dir,
            tenant=tenant,
            all_tenants=all_tenants,
        )
    )


@app.command()
def requeue(
    config: ConfigOpt = None,
    reason: Annotated[
        str | None, typer.Option(help="Only calls quarantined or failed with this reason code.")
    ] = None,
    tenants_dir: TenantsDirOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Put quarantined or failed calls back in line for the next sync."""
    from models.tenants import load_tenant_settings
    from tasks.pipeline.context import utc_now
    from tasks.store import Store

    def body() -> None:
        settings = load_tenant_settings(config, tenants_dir=tenants_dir, tenant=tenant)
        store = Store(settings.store.url, tenant=settings.tenant, clock=utc_now)
        try:
            result = store.requeue(reason=reason)
        finally:
            store.close()
        typer.echo(result.describe())

    guarded(body)


@app.command()
def doctor(
    config: ConfigOpt = None,
    tenants_dir: TenantsDirOpt = None,
    tenant: TenantOpt = None,
    all_tenants: Annotated[
        bool, typer.Option("--all-tenants", help="Every enabled tenant of the directory.")
    ] = False,
) -> None:
    """Check a live Zoho org: token, TOP manager, custom fields, scopes; say how to fix gaps."""
    import httpx

    from models.tenants import TenantsDir, load_tenant_settings
    from tasks.zoho.doctor import run_doctor

    if all_tenants:
        directory = guarded(lambda: TenantsDir.from_option(tenants_dir))
        if directory is None:
            fail(
                "--all-tenants needs the tenants directory (--tenants-dir or $CALLSYNC_TENANTS_DIR)"
            )
        names: list[str | None] = list(directory.names())
    else:
        checked(config, ringostat=False, tenants_dir=tenants_dir, tenant=tenant)
        names = [tenant]

    async def one(name: str | None) -> bool:
        settings = load_tenant_settings(config, tenants_dir=tenants_dir, tenant=name)
        async with httpx.AsyncClient(timeout=settings.zoho.timeout_s) as http:
            result = await run_doctor(settings, http)
        if name is not None:
            typer.echo(f"== tenant {name}")
        typer.echo(result.render())
        return result.ok

    async def body() -> bool:
        # One tenant's broken config or Zoho is its own failure: the others are checked too.
        oks = []
        for name in names:
            try:
                oks.append(await one(name))
            except Exception as exc:
                if not all_tenants:
                    raise
                from flows.cli.oneline import describe

                typer.echo(f"== tenant {name}\n[fail] {describe(exc)}")
                oks.append(False)
        return all(oks)

    if not run_async(body):
        raise typer.Exit(1)


@app.command()
def backfill(
    from_: Annotated[str, typer.Option("--from", help="Start date or date-time.")],
    to: ToOpt = None,
    config: ConfigOpt = None,
    window_hours: Annotated[
        float, typer.Option(help="Size of each window the range is cut into.", min=0.1)
    ] = 6.0,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Go ahead without asking (a range over 400 days needs it)."
        ),
    ] = False,
) -> None:
    """Re-read a past date range window by window (late recordings, outages); safe to repeat.

    Shows the range and the number of windows first; asks before a range over a week or with
    no [[employees]] entries (--yes skips the question)."""
    from datetime import UTC, datetime

    from flows.cli.backfill_guard import plan_backfill, refuse_without_yes
    from models.settings import load_settings

    planned = guarded(
        lambda: plan_backfill(load_settings(config), from_, to, window_hours, now=datetime.now(UTC))
    )
    guarded(lambda: refuse_without_yes(planned, yes=yes))
    checked(config, date_from=from_, date_to=to)
    for line in planned.describe():
        typer.echo(line)
    if planned.asks and not yes:
        try:
            go = typer.confirm("Go ahead?", default=False)
        except typer.Abort:  # no terminal, or Ctrl-D: nobody said yes
            go = False
        if not go:
            fail("backfill not started: nothing was written (add --yes to go ahead unasked)")
    connect_prefect(config)
    from flows.backfill import backfill_calls
    from flows.cli.render import print_summary

    result = run_async(
        lambda: backfill_calls(
            config=str(config) if config else None,
            date_from=from_,
            date_to=to,
            window_hours=window_hours,
        )
    )
    print_summary(result, tz=_company_timezone(config))


@app.command()
def bench(
    calls: Annotated[int, typer.Option(help="Calls in the generated day.", min=10)] = 10000,
    latency_ms: Annotated[float, typer.Option(help="Zoho emulator latency per request.")] = 150,
    concurrency: Annotated[int, typer.Option(help="Zoho requests in flight at most.")] = 10,
    idle_runs: Annotated[int, typer.Option(help="Scheduled runs with no new calls.")] = 3,
    baseline_sample: Annotated[
        int, typer.Option(help="Calls replayed as a per-call integration (search + insert).")
    ] = 200,
    steady_calls: Annotated[
        int, typer.Option(help="New calls in the last scheduled run (a busy minute).")
    ] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the generated company and calls.")] = 7,
) -> None:
    """Benchmark the real sync flow (Prefect, GX) against both emulators; print one JSON object."""
    from benchmarks.flow_bench import run_bench

    result = guarded(
        lambda: run_bench(
            calls=calls,
            latency_ms=latency_ms,
            concurrency=concurrency,
            idle_runs=idle_runs,
            baseline_sample=baseline_sample,
            steady_calls=steady_calls,
            seed=seed,
        )
    )
    typer.echo(json.dumps(result, indent=2))


@app.command()
def simulate(
    tenants: Annotated[int, typer.Option(help="Generated companies.", min=1)] = 10,
    workers: Annotated[int, typer.Option(help="`prefect worker start` processes.", min=1)] = 2,
    calls_per_tenant: Annotated[
        int, typer.Option(help="Calls in each company's day.", min=10)
    ] = 200,
    latency_ms: Annotated[float, typer.Option(help="Zoho's answer time per request.")] = 150,
    faulty: Annotated[
        int,
        typer.Option(help="K companies with a revoked refresh token and K with spent credits."),
    ] = 0,
    store_url: Annotated[
        str | None,
        typer.Option(
            help="State store (default: the installation's, from --tenants-dir or --config; "
            "else a SQLite file in --workdir)."
        ),
    ] = None,
    workdir: Annotated[
        Path, typer.Option(help="Where the simulation keeps its tenants, logs and state.")
    ] = Path(".callsync/simulate"),
    tenants_dir: TenantsDirOpt = None,
    config: ConfigOpt = None,
    cold: Annotated[
        bool, typer.Option("--cold", help="Start each run as a new process (no warm starts).")
    ] = False,
) -> None:
    """Many generated companies through a Prefect process work pool with real workers, on the
    emulators; prints one JSON object (calls/s, duplicates, missing, failed tenants)."""
    from flows.simulate.run import SimulationOptions, print_result, run_simulation

    def body() -> dict[str, Any]:
        url = store_url or installation_store_url(config, tenants_dir)
        return run_simulation(
            SimulationOptions(
                tenants=tenants,
                workers=workers,
                calls_per_tenant=calls_per_tenant,
                latency_ms=latency_ms,
                faulty=faulty,
                store_url=url or "",
                workdir=workdir,
                warm=not cold,
            )
        )

    result = guarded(body)
    print_result(result)
    if sorted(result["failed_tenants"]) != sorted(result["expected_failures"]) or (
        result["duplicates"] or result["missing"]
    ):
        raise typer.Exit(2)


@app.command()
def worker(
    pool: Annotated[
        str, typer.Option(help="The process work pool to take runs from.")
    ] = "callsync",
    limit: Annotated[int, typer.Option(help="Runs at once in this worker.", min=1)] = 1,
    tenants_dir: TenantsDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Take runs from a Prefect process work pool (`prefect worker start`), with this checkout's
    Python first on PATH: the tenants' runs start warm (forked, not imported again)."""
    connect_prefect(config, tenants_dir)
    from flows.runtime.pool import worker_env

    env = worker_env(os.environ["PREFECT_API_URL"], keep_prefect=True)
    if tenants_dir is not None:
        env["CALLSYNC_TENANTS_DIR"] = str(tenants_dir.absolute())
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    os.execve(sys.executable, [*argv, "--type", "process", "--limit", str(limit)], env)


@app.command()
def serve(config: ConfigOpt = None, tenants_dir: TenantsDirOpt = None) -> None:
    """Run the deployments of deployments/prefect.yaml in this process (sync every minute, nightly
    backfill, hourly reports) against this installation's Prefect server, whose UI it prints.
    With a tenants directory: every tenant's, through the dispatcher, and every tenant's
    webhooks."""
    from models.tenants import TenantsDir

    directory = guarded(lambda: TenantsDir.from_option(tenants_dir)) if config is None else None
    if directory is None:
        checked(config)
    connect_prefect(config, directory.path if directory else None)
    from flows.runtime.deploy import serve_all

    ui_url = os.environ["PREFECT_API_URL"].removesuffix("/api")
    # Absolute: the runs are started in other processes, maybe from another directory.
    guarded(
        lambda: serve_all(
            str(config.absolute()) if config else None,
            ui_url,
            str(directory.path) if directory else None,
        )
    )


@app.command()
def ui(
    config: ConfigOpt = None,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop this installation's Prefect server instead.")
    ] = False,
) -> None:
    """Print the address of this installation's Prefect UI (every run of every command is there),
    starting its server if needed; --stop stops it."""
    from flows.runtime.prefect_server import InstallationServer, configured_api_url, prefect_home
    from models.settings import load_settings

    if stop:
        if configured_api_url(os.environ):
            fail("PREFECT_API_URL is set: that server is not callsync's to stop")
        home = prefect_home(guarded(lambda: load_settings(config)))
        stopped = InstallationServer(home).stop()
        typer.echo(f"stopped the Prefect server of {home}" if stopped else "no server was running")
        return
    connect_prefect(config)
    typer.echo(f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}")
    typer.echo(f"  for the prefect CLI: export PREFECT_API_URL={os.environ['PREFECT_API_URL']}")


@app.command()
def alerts(
    config: ConfigOpt = None,
    test: Annotated[
        bool, typer.Option("--test", help="Also send one test notification through it now.")
    ] = False,
) -> None:
    """Make the Prefect server's failure alert match [prefect] alert_webhook_url / alert_block
    (an automation: a failed or crashed run is announced); `serve` does this at its start."""
    from models.settings import load_settings

    settings = guarded(lambda: load_settings(config))
    connect_prefect(config)
    from flows.runtime.alerts import apply_alert, send_test_alert

    result = run_async(lambda: apply_alert(settings.prefect))
    typer.echo(result.describe())
    if test:
        typer.echo(run_async(lambda: send_test_alert(settings.prefect)))


@app.command()
def listen(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: [webhook] host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: [webhook] port, 8787).", min=0, max=65535)
    ] = None,
    tenants_dir: TenantsDirOpt = None,
) -> None:
    """Receive Ringostat's webhooks: a lead at pickup, the rest of the call's records after it.
    With a tenants directory, every tenant's at /t/<tenant>/ringostat/..."""
    from flows.cli.preflight import require
    from models.settings import load_settings
    from models.tenants import TenantsDir

    directory = guarded(lambda: TenantsDir.from_option(tenants_dir)) if config is None else None
    if directory is not None:
        connect_prefect(None, tenants_dir)
        from flows.runtime.listen import listen_tenants

        run_async(lambda: listen_tenants(directory, host=host or "127.0.0.1", port=port or 8787))
        return
    settings = guarded(lambda: load_settings(config))
    guarded(lambda: require(settings, ["webhook.token"], config=config))
    checked(config, ringostat=False)
    connect_prefect(config)  # each event handled goes to this installation's Prefect UI
    from flows.runtime.listen import listen as run_listener

    run_async(lambda: run_listener(settings, host=host, port=port))
