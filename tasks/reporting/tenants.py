"""Reports across tenants: each tenant's DuckDB file read (read-only) and its views stacked with
a ``tenant`` column first — the conversion by source, by agent, the call-backs and the funnel of
every company in one report (``callsync report --all-tenants``).

Each view is computed within its own tenant's file (phone keys, first calls and call-backs never
mix companies) and the results are put together. A file another process is writing at that
moment (a landing holds it for a second) is reported as skipped, never waited for: DuckDB lets
one process hold a file for writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from tasks.reporting.land import ReportingError
from tasks.reporting.render import Report, ResultSet, load_report


@dataclass
class AllTenants:
    report: Report
    skipped: dict[str, str] = field(default_factory=dict)
    """Tenants left out, with why (no reports yet, file busy)."""


def _stack(name: str, parts: Mapping[str, ResultSet]) -> ResultSet:
    columns: tuple[str, ...] = ()
    rows: list[tuple[object, ...]] = []
    for tenant, part in parts.items():
        columns = ("tenant", *part.columns)
        rows.extend((tenant, *row) for row in part.rows)
    return ResultSet(name, columns or ("tenant",), tuple(rows))


def all_tenants_report(
    files: Mapping[str, Path], *, date_from: datetime | None, date_to: datetime | None
) -> AllTenants:
    """Every tenant's report for ``[date_from, date_to)``, stacked (module docstring)."""
    reports: dict[str, Report] = {}
    skipped: dict[str, str] = {}
    for tenant, path in sorted(files.items()):
        try:
            reports[tenant] = load_report(path, date_from=date_from, date_to=date_to)
        except ReportingError as exc:
            skipped[tenant] = str(exc)
    zones = {r.company_timezone for r in reports.values()}
    landed = [r.landed_at for r in reports.values() if r.landed_at is not None]
    sets = {
        f.name: _stack(f.name, {t: getattr(r, f.name) for t, r in reports.items()})
        for f in fields(Report)
        if f.type in ("ResultSet", ResultSet)
    }
    report = Report(
        date_from=date_from,
        date_to=date_to,
        company_timezone=zones.pop() if len(zones) == 1 else "UTC",
        landed_at=min(landed) if landed else None,
        **sets,
    )
    return AllTenants(report, skipped)
