"""The reports flow and ``callsync report``.

The flow pulls back from Zoho what happened to the records callsync touched (lead status and
conversion, converted contact and deal, deal stage, amount and closing, owner changes) through the
phone index's incremental refresh, lands the DuckDB tables and views, and publishes the
conversion table as a Prefect table artifact.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import acreate_table_artifact
from rich.console import Console

from flows.runtime.paths import DEMO_WORKDIR
from flows.runtime.run_card import label_failed_run
from flows.runtime.secrets import load_run_settings
from models.settings import CONFIG_ENV, Settings, load_settings
from tasks.lease import LeaseBusy, run_lease
from tasks.pipeline import open_context
from tasks.pipeline.crm import load_people, refresh_index
from tasks.reporting.land import land_reports
from tasks.reporting.render import (
    load_report,
    render_terminal,
    to_csv,
    to_html,
    to_json,
    view,
    write_csv_files,
)
from tasks.timeparse import parse_when


def land(settings: Settings, engine: Any) -> None:
    land_reports(
        engine,
        Path(settings.store.duckdb_path),
        company_timezone=settings.scenario.company_timezone,
    )


async def publish_conversion_table(settings: Settings) -> list[dict[str, Any]]:
    report = load_report(Path(settings.store.duckdb_path), date_from=None, date_to=None)
    rows = report.conversion_by_source.records()
    await acreate_table_artifact(
        key="callsync-conversion-by-source",
        table=json.loads(json.dumps(rows, default=str)),
        description="Call-to-lead conversion by UTM source, medium and campaign",
    )
    return rows


@flow(
    name="callsync-reports",
    log_prints=False,
    on_failure=[label_failed_run],
    on_crashed=[label_failed_run],
)
async def refresh_reports(
    config: str | None = None,
    secret_blocks: dict[str, str] | None = None,
    tenant: str | None = None,
    tenants_dir: str | None = None,
) -> dict[str, Any]:
    """Pull conversions and deal outcomes back from Zoho, then rebuild the DuckDB reports.

    ``secret_blocks``: setting → Prefect Secret block name, read at run time (deployments;
    ``{tenant}`` in a name is the run's tenant). ``tenant``/``tenants_dir``: the company, as for
    ``callsync-sync``.
    """
    log = get_run_logger()
    settings = await load_run_settings(
        config, secret_blocks, tenant=tenant, tenants_dir=tenants_dir
    )
    run_id = str(runtime.flow_run.id or uuid.uuid4())
    async with open_context(settings) as ctx:
        try:
            with run_lease(ctx.store, what="reports", run_id=run_id):
                people = await load_people(ctx.zoho, ctx.store, settings)
                # The thorough pass: every change since the last one, callsync's own account's
                # included (a sync run reads only what others changed).
                await refresh_index(ctx.zoho, ctx.store, settings, people, full=True)
                indexed = ctx.store.index_size()
                land(settings, ctx.store.engine)
        except LeaseBusy as busy:
            log.info("%s", busy)
            return {"lease_held": str(busy)}
    rows = await publish_conversion_table(settings)
    log.info(
        "Reports rebuilt in %s (%d CRM records indexed, %d source rows)",
        settings.store.duckdb_path,
        indexed,
        len(rows),
    )
    return {"duckdb_path": settings.store.duckdb_path, "sources": len(rows)}


def _all_tenants(directory: Any, date_from: str | None, date_to: str | None, err: Console) -> Any:
    """Every enabled tenant's report, stacked with a tenant column (dates in UTC)."""
    from models.settings import ConfigError
    from tasks.reporting.tenants import all_tenants_report

    if directory is None:
        raise ConfigError("--all-tenants needs the tenants directory (--tenants-dir)")
    files = {t: Path(directory.settings(t).store.duckdb_path) for t in directory.names()}
    result = all_tenants_report(
        files,
        date_from=parse_when(date_from, "UTC") if date_from else None,
        date_to=parse_when(date_to, "UTC", end=True) if date_to else None,
    )
    for tenant, why in result.skipped.items():
        err.print(f"(tenant {tenant} left out: {why})")
    return result.report


def report_config(config: Path | None, settings: Settings) -> Path | None:
    """The demo's config when ``callsync report`` is given none and has nothing of its own to
    show: right after ``callsync demo`` it shows the demo's report."""
    if config is not None or os.environ.get(CONFIG_ENV):
        return None
    demo = DEMO_WORKDIR / "config.toml"
    if Path(settings.store.duckdb_path).exists() or not demo.is_file():
        return None
    return demo


def print_report(
    *,
    config: Path | None,
    date_from: str | None,
    date_to: str | None,
    fmt: str,
    html: Path | None,
    refresh: bool,
    view_name: str | None = None,
    csv_dir: Path | None = None,
    tenants_dir: Path | None = None,
    tenant: str | None = None,
    all_tenants: bool = False,
) -> None:
    import asyncio

    from models.tenants import TenantsDir, load_tenant_settings

    err = Console(stderr=True)
    if all_tenants:
        report = _all_tenants(TenantsDir.from_option(tenants_dir), date_from, date_to, err)
    else:
        settings = load_tenant_settings(config, tenants_dir=tenants_dir, tenant=tenant)
        if tenant is None and (demo := report_config(config, settings)) is not None:
            err.print(f"(no config given: showing the demo's report, from --config {demo})")
            config, settings = demo, load_settings(demo)
        if refresh:
            asyncio.run(
                refresh_reports(
                    config=str(config) if config else None,
                    tenant=tenant,
                    tenants_dir=str(tenants_dir) if tenants_dir else None,
                )
            )
        path = Path(settings.store.duckdb_path)
        if not path.exists():
            raise FileNotFoundError(
                f"no reports at {path}: run `callsync sync --config FILE` first, or `callsync "
                "demo` and then `callsync report`"
            )
        tz = settings.scenario.company_timezone
        report = load_report(
            path,
            date_from=parse_when(date_from, tz) if date_from else None,
            date_to=parse_when(date_to, tz, end=True) if date_to else None,
        )
    console = Console()
    if csv_dir is not None:
        files = write_csv_files(report, csv_dir, None if view_name is None else (view_name,))
        err.print(
            f"{len(files)} CSV file(s) written to {csv_dir}: " + ", ".join(f.name for f in files)
        )
    elif fmt == "json":
        console.out(to_json(report, view_name=view_name), highlight=False)
    elif fmt == "csv":
        assert view_name is not None  # the command line asks for one
        console.out(to_csv(view(report, view_name), report.zone), highlight=False, end="")
    else:
        render_terminal(report, console, views=None if view_name is None else (view_name,))
    if html is not None:
        html.write_text(to_html(report), encoding="utf-8")
        # On stderr, so that --format json|csv on stdout stays machine-readable.
        err.print(f"HTML report written to {html}")
