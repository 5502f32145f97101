"""Every tenant of a store at a glance (``callsync tenants``): read through the shared engine.

Per tenant: its last run (when, how it ended), its lag (how far behind now its call-log cursor
is: the calls of the last minutes not read yet), the Zoho API credits its runs used since the
start of the day (UTC), its failed runs in the last 24 hours (with the last one's reason) and its
calls that failed (rejected by Zoho, waiting for ``callsync requeue``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from models.tables import CallRecord, CursorRecord, RunRecord

CURSOR = "ringostat:calls"


@dataclass
class TenantOverview:
    tenant: str
    last_run_at: datetime | None = None
    last_run_status: str | None = None
    lag: timedelta | None = None
    credits_today: int = 0
    failed_runs_24h: int = 0
    last_error: str | None = None
    failed_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "last_run_at": self.last_run_at.isoformat(timespec="seconds")
            if self.last_run_at
            else None,
            "last_run_status": self.last_run_status,
            "lag_minutes": None if self.lag is None else round(self.lag.total_seconds() / 60, 1),
            "credits_today": self.credits_today,
            "failed_runs_24h": self.failed_runs_24h,
            "last_error": self.last_error,
            "failed_calls": self.failed_calls,
        }


def _credits(summary_json: str) -> int:
    try:
        data = json.loads(summary_json or "{}")
    except ValueError:
        return 0
    value = data.get("zoho_credits") if isinstance(data, dict) else None
    return int(value) if isinstance(value, int | float) else 0


def tenants_overview(engine: Engine, tenants: Iterable[str], now: datetime) -> list[TenantOverview]:
    """The overview of ``tenants`` (those without a row yet included, empty)."""
    rows = {t: TenantOverview(t) for t in tenants}
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        runs = conn.execute(
            select(
                col(RunRecord.tenant),
                col(RunRecord.started_at),
                col(RunRecord.status),
                col(RunRecord.summary_json),
            )
            .where(col(RunRecord.started_at) >= now - timedelta(days=1))
            .order_by(col(RunRecord.started_at))
        )
        for tenant, started, status, summary in runs:
            row = rows.get(tenant)
            if row is None:
                continue
            row.last_run_at, row.last_run_status = started, status
            if started >= day:
                row.credits_today += _credits(summary)
            if status == "failed":
                row.failed_runs_24h += 1
                row.last_error = str(json.loads(summary or "{}").get("error") or "") or None
        last = conn.execute(
            select(col(RunRecord.tenant), func.max(col(RunRecord.started_at))).group_by(
                col(RunRecord.tenant)
            )
        )
        for tenant, started in last:
            if tenant in rows and rows[tenant].last_run_at is None:
                rows[tenant].last_run_at = started
        for tenant, position in conn.execute(
            select(col(CursorRecord.tenant), col(CursorRecord.position)).where(
                col(CursorRecord.name) == CURSOR
            )
        ):
            if tenant in rows:
                rows[tenant].lag = now - position
        for tenant, count in conn.execute(
            select(col(CallRecord.tenant), func.count())
            .where(col(CallRecord.status) == "failed")
            .group_by(col(CallRecord.tenant))
        ):
            if tenant in rows:
                rows[tenant].failed_calls = int(count)
    return list(rows.values())
