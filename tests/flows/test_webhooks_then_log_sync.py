"""Webhooks first, then the log sync, for the same calls: Zoho and the reports end exactly as
with the log sync alone (apart from timing), and the log sync writes nothing twice.

World A: the Ringostat emulator sends its webhooks to a running receiver as the calls progress
(pickup while talking, after-call at the end), then the scheduled log sync reads the same calls.
World B: the log sync alone. Both: the 13 matrix rows of SPEC 6 and a second call from a caller
whose lead was created at pickup.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from models.settings import load_settings
from tests.flows.conftest import World, open_world
from tests.flows.test_sync_flow import AS_OF, MATRIX_CALLS, SEED, call
from tests.integration.webhook_support import TOKEN, inbox_counts, receiver

pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)

CALLS = [*MATRIX_CALLS, call("r14", 20, "in", "ANSWERED", "380500000001", "boris_sip")]
INBOUND_ANSWERED = [c for c in CALLS if c["call_type"] == "in" and c["disposition"] == "ANSWERED"]
DROPPED = {"id", "Created_Time", "Modified_Time", "Last_Activity_Time", "Created_By", "Modified_By"}


def _in_progress(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "disposition": "IN PROGRESS", "duration": "0", "billsec": "0",
            "recording": "", "has_recording": "0"}  # fmt: skip


def _zoho(world: World) -> dict[str, dict[str, Any]]:
    """Every record callsync wrote, by rs_sync_key, ids replaced by the keys they name."""
    dump = world.dump()
    names = {r["id"]: r.get("rs_sync_key") or r["id"] for m in dump.values() for r in m}
    out: dict[str, dict[str, Any]] = {}
    for module in ("Leads", "Tasks", "Calls"):
        for rec in dump.get(module, []):
            if not rec.get("rs_sync_key"):
                continue
            norm = {}
            for name, value in rec.items():
                if name in DROPPED:
                    continue
                if isinstance(value, dict) and "id" in value:
                    value = {**value, "id": names.get(value["id"], value["id"])}
                norm[name] = value
            out[rec["rs_sync_key"]] = norm
    return out


def _reports(world: World) -> dict[str, Any]:
    db = duckdb.connect(str(world.workdir / "reports.duckdb"), read_only=True)
    try:
        calls = db.execute(
            "select uniqueid, status, reason, scenario_row, client_status, direction, outcome, "
            "employee_user_id, utm_source, utm_campaign, duration, billsec, recording_url, "
            "started_at from calls order by uniqueid"
        ).fetchall()
        sources = db.execute("select * from conversion_by_source order by all").fetchall()
    finally:
        db.close()
    return {"calls": calls, "conversion_by_source": sources}


def _webhooks(world: World, url: str) -> dict[str, Any]:
    base = f"{url}/ringostat"
    return {
        "webhooks": [
            {"event": "pickup", "url": f"{base}/pickup?token={TOKEN}", "method": "GET"},
            {"event": "after_call", "url": f"{base}/after-call?token={TOKEN}"},
            {"event": "outgoing_after_call", "url": f"{base}/outgoing-after-call?token={TOKEN}",
             "format": "form"},
        ]
    }  # fmt: skip


@pytest.fixture
def worlds(tmp_path: Path, prefect_harness: None) -> Iterator[tuple[World, World]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with open_world(tmp_path / "a") as a, open_world(tmp_path / "b") as b:
        yield a, b


def test_webhooks_then_the_log_sync_equal_the_log_sync_alone(worlds: tuple[World, World]) -> None:
    a, b = worlds
    # A: webhooks as the calls progress, then the log sync
    a.seed_zoho(SEED)
    settings = load_settings(a.write_config(webhook={"token": TOKEN}))
    with receiver(settings) as rec:
        a.http.put(f"{a.ringostat_url}/__emulator__/webhooks", json=_webhooks(a, rec.url))
        first, later = INBOUND_ANSWERED[:-1], INBOUND_ANSWERED[-1]
        a.post_calls([_in_progress(c) for c in first])
        pickups = {h.event.uniqueid: h.outcome for h in rec.wait(len(first))}
        # r14 (10:20) is picked up after r01 (10:01) from the same caller
        a.post_calls([_in_progress(later)])
        pickups.update((h.event.uniqueid, h.outcome) for h in rec.wait(1))
        assert pickups == {
            "r01": "lead_created",
            "r02": "lead_created",
            "r03": "existing_client",
            "r04": "existing_client",
            "r05": "existing_client",
            "r14": "existing_client",  # r01's caller again: r01's lead is its client
        }
        leads_during_calls = {r["rs_sync_key"] for r in a.dump()["Leads"] if r.get("rs_sync_key")}
        assert leads_during_calls == {"r01/lead", "r02/lead"}
        a.post_calls(CALLS)
        after = {h.event.uniqueid: h.outcome for h in rec.wait(len(CALLS))}
        assert set(after) == {c["uniqueid"] for c in CALLS}
    errors = a.http.get(f"{a.ringostat_url}/__emulator__/webhooks/errors").json()["errors"]
    assert errors == []
    writes_before = _write_requests(a)
    result = a.sync(AS_OF)
    assert _write_requests(a) == writes_before  # the log sync sent no write at all
    assert result["by_status"].get("synced", 0) == 0  # every call was synced by the webhooks
    assert not any(k.endswith("/pending") or "/failed" in k for k in inbox_counts(settings))

    # B: the log sync alone
    b.seed_zoho(SEED)
    b.post_calls(CALLS)
    b.sync(AS_OF)

    assert _zoho(a) == _zoho(b)
    assert _reports(a) == _reports(b)


def _write_requests(world: World) -> int:
    routes = world.stats()["by_route"]
    return sum(
        v["requests"]
        for k, v in routes.items()
        if k.startswith(("POST", "PUT")) and "coql" not in k and "token" not in k
    )


def test_events_that_failed_are_finished_by_the_next_sync_run(
    worlds: tuple[World, World],
) -> None:
    a, _ = worlds
    a.seed_zoho(SEED)
    settings = load_settings(a.write_config(webhook={"token": TOKEN}))
    # picked up two minutes before the first sync (AS_OF is 14:00 in Kyiv), ends after it
    first = call(
        "f01", 1, "in", "ANSWERED", "380500000091", "anna_sip", calldate="2026-03-02 13:58:00"
    )
    a.faults(rate_5xx=1.0)  # Zoho is down while the call is picked up
    with receiver(settings) as rec:
        a.http.put(f"{a.ringostat_url}/__emulator__/webhooks", json=_webhooks(a, rec.url))
        a.post_calls([_in_progress(first)])
        (failed,) = rec.wait(1)
    assert (failed.status, failed.outcome) == ("failed", "error")
    assert inbox_counts(settings) == {"pickup/failed/error": 1}
    assert not [r for r in a.dump()["Leads"] if r.get("rs_sync_key")]

    a.faults(rate_5xx=0.0)
    result = a.sync(AS_OF)  # the call is still in progress in the log: only the inbox has it
    assert result["webhook_events"] == {"pickup/done/lead_created": 1}
    assert inbox_counts(settings) == {"pickup/done/lead_created": 1}
    leads = [r for r in a.dump()["Leads"] if r.get("rs_sync_key")]
    assert [r["rs_sync_key"] for r in leads] == ["f01/lead"]

    a.post_calls([first])  # the call ends (the receiver is gone: the log brings it)
    result = a.sync(AS_OF + timedelta(minutes=5))
    assert result["by_row"] == {"1": 1}
    dump = a.dump()
    assert [r["rs_sync_key"] for r in dump["Leads"] if r.get("rs_sync_key")] == ["f01/lead"]
    (task,) = [t for t in dump["Tasks"] if t.get("rs_sync_key") == "f01/task"]
    assert task["What_Id"]["id"] == leads[0]["id"]
