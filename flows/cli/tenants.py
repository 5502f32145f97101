"""``callsync tenants``: the companies of an installation — list, add, disable, enable, remove.

Each command touches one tenant's file in the tenants directory (and, for ``remove --purge``,
its rows in the store) and nothing else: the other companies' runs go on.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from models.tenants import TenantsDir

app = typer.Typer(
    name="tenants",
    help="The companies of this installation (a tenants directory): list, add, disable, "
    "enable, remove.",
    no_args_is_help=False,
    invoke_without_command=True,
)

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--tenants-dir",
        help="Tenants directory (default: $CALLSYNC_TENANTS_DIR).",
        file_okay=False,
    ),
]


def _directory(value: Path | None) -> TenantsDir:
    from models.settings import TENANTS_DIR_ENV, ConfigError
    from models.tenants import TenantsDir

    directory = TenantsDir.from_option(value)
    if directory is None:
        raise ConfigError(f"name the tenants directory: --tenants-dir DIR or {TENANTS_DIR_ENV}")
    return directory


@app.callback()
def list_tenants(
    ctx: typer.Context,
    tenants_dir: DirOpt = None,
    format_: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the tenants with their last run, lag, Zoho credits used today and failures."""
    if ctx.invoked_subcommand is not None:
        return
    from flows.cli.app import fail, guarded
    from tasks.store import Store
    from tasks.store.overview import tenants_overview

    if format_ not in ("table", "json"):
        fail("--format is table or json")

    def body() -> list[dict[str, object]]:
        directory = _directory(tenants_dir)
        enabled, disabled = directory.names(), directory.disabled()
        store = Store(directory.store().url)
        try:
            rows = tenants_overview(store.shared_engine, [*enabled, *disabled], datetime.now(UTC))
        finally:
            store.close()
        return [{**r.to_dict(), "enabled": r.tenant in enabled} for r in rows]

    rows = guarded(body)
    if format_ == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    header = (
        f"{'tenant':<24} {'on':<3} {'last run':<36} {'lag min':>8} {'credits':>8} {'failed':>7}"
    )
    typer.echo(header)
    for r in rows:
        last = f"{r['last_run_at'] or '-'} {r['last_run_status'] or ''}".strip()
        lag = "-" if r["lag_minutes"] is None else f"{r['lag_minutes']}"
        failed = f"{r['failed_runs_24h']}/{r['failed_calls']}"
        typer.echo(
            f"{r['tenant']:<24} {'yes' if r['enabled'] else 'no':<3} {last:<36} {lag:>8} "
            f"{r['credits_today']:>8} {failed:>7}"
            + (f"  last error: {r['last_error']}" if r["last_error"] else "")
        )
    typer.echo("(failed: runs failed in the last 24 h / calls Zoho rejected, waiting for requeue)")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The company's name: lowercase letters, digits, -.")],
    from_: Annotated[
        Path,
        typer.Option(
            "--from",
            help="Its config file ([zoho], [ringostat], [scenario], ...).",
            dir_okay=False,
            exists=True,
        ),
    ],
    tenants_dir: DirOpt = None,
) -> None:
    """Add a company: its config file is checked and copied into the tenants directory."""
    from flows.cli.app import guarded
    from models.settings import ConfigError

    def body() -> str:
        directory = _directory(tenants_dir)
        target = directory.file(name)
        if target.exists() or directory.disabled_file(name).exists():
            raise ConfigError(f"tenant {name!r} exists already ({target.name})")
        shutil.copyfile(from_, target)
        try:
            directory.settings(name)
        except Exception:
            target.unlink()
            raise
        return f"added tenant {name} ({target}); the dispatcher gives it a run at its next tick"

    typer.echo(guarded(body))


@app.command("disable")
def disable(name: Annotated[str, typer.Argument()], tenants_dir: DirOpt = None) -> None:
    """Switch a company off: no new runs (its state and file are kept)."""
    from flows.cli.app import guarded
    from models.settings import ConfigError

    def body() -> str:
        directory = _directory(tenants_dir)
        source = directory.file(name)
        if not source.exists():
            raise ConfigError(f"no enabled tenant {name!r} in {directory.path}")
        source.rename(directory.disabled_file(name))
        return f"disabled tenant {name}: no new runs (a run in flight finishes)"

    typer.echo(guarded(body))


@app.command("enable")
def enable(name: Annotated[str, typer.Argument()], tenants_dir: DirOpt = None) -> None:
    """Switch a disabled company back on."""
    from flows.cli.app import guarded
    from models.settings import ConfigError
    from models.tenants import DISABLED_SUFFIX

    def body() -> str:
        directory = _directory(tenants_dir)
        source = directory.disabled_file(name)
        if not source.exists():
            raise ConfigError(f"no disabled tenant {name!r} ({name}{DISABLED_SUFFIX})")
        source.rename(directory.file(name))
        directory.settings(name)
        return f"enabled tenant {name}"

    typer.echo(guarded(body))


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument()],
    tenants_dir: DirOpt = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete its rows from the state store.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do it (required).")] = False,
) -> None:
    """Remove a company: its file is renamed ``<name>.toml.removed-<time>`` (kept, not read);
    with --purge its state rows are deleted too."""
    from flows.cli.app import fail, guarded
    from models.settings import ConfigError

    if not yes:
        fail(f"removing tenant {name} needs --yes (add --purge to delete its state rows too)")

    def body() -> str:
        directory = _directory(tenants_dir)
        found = [p for p in (directory.file(name), directory.disabled_file(name)) if p.exists()]
        if not found:
            raise ConfigError(f"no tenant {name!r} in {directory.path}")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        found[0].rename(directory.path / f"{name}.toml.removed-{stamp}")
        rows = purge_tenant(directory.store().url, name) if purge else 0
        return f"removed tenant {name}" + (f"; {rows} state rows deleted" if purge else "")

    typer.echo(guarded(body))


def purge_tenant(url: str, tenant: str) -> int:
    """Delete every state row of ``tenant`` (one transaction); the number of rows."""
    from sqlalchemy import delete
    from sqlmodel import SQLModel

    from tasks.store import Store
    from tasks.store.tenancy import TENANT_TABLES

    store = Store(url, tenant=tenant)
    try:
        deleted = 0
        with store.engine.begin() as conn:
            for table in SQLModel.metadata.sorted_tables:
                if table.name in TENANT_TABLES:
                    deleted += conn.execute(delete(table)).rowcount
        return deleted
    finally:
        store.close()
