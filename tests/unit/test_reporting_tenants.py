"""Reports across tenants: each tenant's own file and views, stacked with a tenant column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, SQLModel, create_engine

from tasks.reporting.land import land_reports
from tasks.reporting.tenants import all_tenants_report
from tasks.store.tenancy import scoped
from tests.unit.test_reporting_land import call

LANDED = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def test_every_tenants_views_stacked_each_computed_in_its_own_file(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    SQLModel.metadata.create_all(engine)
    files = {}
    for tenant, calls in (("acme", 3), ("globex", 1)):
        scope = scoped(engine, tenant)
        with Session(scope) as s:
            for i in range(calls):
                # The same phone key in both companies: a caller of one is new to the other.
                s.add(call(f"{tenant}-{i}", phone_key="501234567", client_e164="+380501234567"))
            s.commit()
        files[tenant] = tmp_path / f"{tenant}.duckdb"
        land_reports(scope, files[tenant], company_timezone="UTC", clock=lambda: LANDED)
    files["initech"] = tmp_path / "never-landed.duckdb"

    result = all_tenants_report(files, date_from=None, date_to=None)
    totals = result.report.funnel_totals.records()
    assert [(r["tenant"], r["calls"], r["callers"]) for r in totals] == [
        ("acme", 3, 1),
        ("globex", 1, 1),
    ]
    assert list(result.skipped) == ["initech"]
