"""Flow-run retention: a Prefect server's database stays small over months.

A sync every minute is 1,440 flow runs a day, each with its task runs, states, logs and
artifacts (2.3 MB in ten idle minutes of ``serve``, measured). Runs that ended more than
``[prefect] keep_days`` ago are deleted through the server's REST API (``POST
/flow_runs/bulk_delete``, which also queues the deletion of their logs); their task runs and
states go with them (the database cascades), and the artifacts left without a run are removed by
Prefect's own orphan clean-up, which callsync switches on for the servers it starts
(``PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED=events,orphans``).

Only finished runs are deleted (completed, failed, cancelled, crashed): a run still scheduled,
running or paused is kept whatever its age. The installation's server runs this every hour
(:mod:`flows.runtime.server_watch`); it needs nothing but the server's address, so it is plain
HTTP, not Prefect's client.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from typing import Any

FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")
BATCH = 50
"""Prefect's limit for one bulk operation."""
MAX_BATCHES = 2000
"""A bound on one clean-up (100,000 runs): a server that keeps answering "deleted" for ever
must not keep the watch busy for ever; the next clean-up goes on."""


def api_call(api_url: str, method: str, path: str, body: Any = None, timeout_s: float = 30) -> Any:
    """One JSON call to a Prefect server's REST API; a server on 127.0.0.1 is asked directly,
    never through an HTTP proxy."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{api_url.rstrip('/')}{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    local = urllib.parse.urlsplit(api_url).hostname in ("127.0.0.1", "localhost", "::1")
    opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if local else []))
    with opener.open(request, timeout=timeout_s) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def cutoff(keep_days: float, now: datetime) -> datetime:
    """Runs that ended before this moment are deleted."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now - timedelta(days=keep_days)


def old_runs_filter(before: datetime) -> dict[str, Any]:
    """The flow-run filter of the runs to delete: finished, and ended before ``before``."""
    return {
        "end_time": {"before_": before.isoformat()},
        "state": {"type": {"any_": list(FINISHED)}},
    }


def prune_flow_runs(api_url: str, keep_days: float, *, now: datetime) -> int:
    """Delete the finished flow runs that ended more than ``keep_days`` before ``now``;
    returns how many were deleted. ``keep_days <= 0`` keeps everything."""
    if keep_days <= 0:
        return 0
    flow_runs = old_runs_filter(cutoff(keep_days, now))
    deleted = 0
    for _ in range(MAX_BATCHES):
        answer = api_call(
            api_url, "POST", "/flow_runs/bulk_delete", {"flow_runs": flow_runs, "limit": BATCH}
        )
        batch = len(answer.get("deleted") or [])
        deleted += batch
        if batch < BATCH:
            break
    return deleted
