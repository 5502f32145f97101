"""land_reports: what the DuckDB tables hold, idempotency, atomicity, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, create_engine

from models.tables import CallRecord, CrmIndexRecord, QuarantineRecord, RunRecord, WriteRecord
from tasks.reporting import land
from tasks.reporting.land import LandResult, ReportingError, land_reports
from tasks.store.tenancy import scoped

T = datetime(2024, 3, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 March in Kyiv
LANDED = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def store(tmp_path: Path) -> Engine:
    """The tables, through the scope of the tenant ``acme`` (as a store opened for it reads
    them)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    SQLModel.metadata.create_all(engine)
    return scoped(engine, "acme")


def call(uid: str, **values: Any) -> CallRecord:
    base: dict[str, Any] = {
        "uniqueid": uid,
        "status": "synced",
        "fingerprint": uid,
        "raw_json": "{}",
        "started_at": T,
        "ended_at": T,
        "direction": "inbound",
        "outcome": "answered",
        "client_e164": "+380501234567",
        "phone_key": "501234567",
        "client_status": "new",
        "first_seen_at": T,
        "updated_at": T,
    }
    return CallRecord(**(base | values))


def write(uid: str, slot: str, zoho_id: str | None, status: str = "success") -> WriteRecord:
    return WriteRecord(
        sync_key=f"{uid}/{slot}",
        uniqueid=uid,
        module="Leads" if slot == "lead" else "Tasks",
        op="insert",
        kind="lead" if slot == "lead" else "log_task",
        owner_id="u1",
        zoho_id=zoho_id,
        status=status,
        error_code=None if status == "success" else "INVALID_DATA",
        payload_json='{"Phone": "+380501234567"}',
        created_at=T,
        updated_at=T,
    )


def seed(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(
            call(
                "a",
                attached_module="Leads",
                utm_source="google",
                client_id="GA1.2.3",
                employee_user_id="u1",
                scenario_row=1,
                synced_at=T,
            )
        )
        s.add(call("b", attached_module="Contacts", attached_id="C9", client_status="existing"))
        s.add(call("c", status="failed", reason="INVALID_DATA", attached_module="Leads"))
        s.add(
            call(
                "q",
                status="quarantined",
                reason="bad_calldate",
                started_at=None,
                ended_at=None,
                direction=None,
                outcome=None,
                client_e164=None,
                phone_key=None,
                client_status=None,
            )
        )
        s.add(write("a", "lead", "L1"))
        s.add(write("a", "task", "T1"))
        s.add(write("c", "lead", None, status="failed"))
        s.add(
            QuarantineRecord(
                row_hash="h1", uniqueid="q", reason="bad_calldate", detail="x", raw_json="{}",
                created_at=T,
            )
        )  # fmt: skip
        s.add(
            CrmIndexRecord(
                module="Deals", id="D1", owner_id="u1", modified_time=T, stage="Closed Won",
                amount=12, closing_date="2024-03-09",
            )
        )  # fmt: skip
        s.add(
            CrmIndexRecord(
                module="Deals", id="D2", owner_id="u1", modified_time=T, closing_date="soon"
            )
        )
        s.add(CrmIndexRecord(module="Leads", id="L1", owner_id="u1", modified_time=T))
        s.add(
            RunRecord(
                run_id="r1", flow="sync", started_at=T, finished_at=T, status="completed",
                summary_json='{"processed": 3}',
            )
        )  # fmt: skip
        s.commit()


def fetch(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


def test_land_counts_and_call_rows(tmp_path: Path) -> None:
    engine = store(tmp_path)
    seed(engine)
    path = tmp_path / "sub" / "reports.duckdb"  # the folder is created
    result = land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    assert result == LandResult(path, calls=4, crm_writes=3, quarantine=1, crm_records=3, runs=1)
    assert result.counts() == {
        "calls": 4,
        "crm_writes": 3,
        "quarantine": 1,
        "crm_records": 3,
        "runs": 1,
        "users": 0,
        "callbacks": 0,
    }
    got = fetch(
        path,
        "SELECT uniqueid, local_date, started_at_local, client_masked, client_e164, lead_id,"
        " attached_module, attached_id, utm_source, google_client_id, scenario_row, status"
        " FROM calls ORDER BY uniqueid",
    )
    assert got == [
        # The lead a call created comes from the ledger; its attachment is filled from it.
        ("a", date(2024, 3, 2), datetime(2024, 3, 2, 0, 30), "***4567", "+380501234567", "L1",  # noqa: DTZ001
         "Leads", "L1", "google", "GA1.2.3", 1, "synced"),
        ("b", date(2024, 3, 2), datetime(2024, 3, 2, 0, 30), "***4567", "+380501234567", None,  # noqa: DTZ001
         "Contacts", "C9", None, None, None, "synced"),
        # A failed lead write is no lead.
        ("c", date(2024, 3, 2), datetime(2024, 3, 2, 0, 30), "***4567", "+380501234567", None,  # noqa: DTZ001
         "Leads", None, None, None, None, "failed"),
        ("q", None, None, None, None, None, None, None, None, None, None, "quarantined"),
    ]  # fmt: skip
    started = fetch(path, "SELECT started_at, synced_at FROM calls WHERE uniqueid = 'a'")
    assert started == [(T, T)]


def test_other_tables(tmp_path: Path) -> None:
    engine = store(tmp_path)
    seed(engine)
    path = tmp_path / "r.duckdb"
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    columns = [r[0] for r in fetch(path, "SELECT column_name FROM (DESCRIBE crm_writes)")]
    assert "payload_json" not in columns  # payloads (with phone numbers) stay in the store
    assert fetch(
        path, "SELECT sync_key, zoho_id, status, error_code FROM crm_writes ORDER BY 1"
    ) == [
        ("a/lead", "L1", "success", None),
        ("a/task", "T1", "success", None),
        ("c/lead", None, "failed", "INVALID_DATA"),
    ]
    assert fetch(path, "SELECT uniqueid, reason FROM quarantine") == [("q", "bad_calldate")]
    assert fetch(
        path, "SELECT id, amount, closing_date, converted FROM crm_records ORDER BY id"
    ) == [
        ("D1", 12.0, date(2024, 3, 9), False),
        ("D2", None, None, False),  # not a yyyy-MM-dd date: NULL, not a failed landing
        ("L1", None, None, False),
    ]
    assert fetch(path, "SELECT run_id, status, summary_json FROM runs") == [
        ("r1", "completed", '{"processed": 3}')
    ]
    assert fetch(path, "SELECT * FROM report_meta") == [("Europe/Kyiv", LANDED)]


def test_landing_twice_is_idempotent_and_follows_the_store(tmp_path: Path) -> None:
    engine = store(tmp_path)
    seed(engine)
    path = tmp_path / "r.duckdb"
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    first = fetch(path, "SELECT * FROM conversion_by_source")
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    assert fetch(path, "SELECT * FROM conversion_by_source") == first
    assert fetch(path, "SELECT count(*) FROM calls") == [(4,)]
    assert first == [
        ("(direct)", "(none)", "(none)", 2, 1, 0, 0, 0, None),
        ("google", "(none)", "(none)", 1, 1, 1, 1, 0, 0.0),
    ]

    with Session(engine) as s:  # the lead is converted in Zoho; the index learns it
        lead = s.get(CrmIndexRecord, ("acme", "Leads", "L1"))
        assert lead is not None
        lead.converted = True
        s.add(lead)
        s.commit()
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    assert fetch(path, "SELECT leads_converted, conversion_rate FROM conversion_by_source"
                       " WHERE utm_source = 'google'") == [(1, 1.0)]  # fmt: skip


def test_a_failed_landing_leaves_the_previous_one_intact(tmp_path: Path) -> None:
    engine = store(tmp_path)
    seed(engine)
    path = tmp_path / "r.duckdb"
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    empty = create_engine(f"sqlite:///{tmp_path / 'no_tables.db'}")  # reading `calls` fails
    with pytest.raises(Exception, match="no such table"):
        land_reports(empty, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    assert fetch(path, "SELECT count(*) FROM calls") == [(4,)]
    assert fetch(path, "SELECT calls FROM funnel_totals") == [(3,)]


def test_empty_store_lands_empty_tables_and_working_views(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    result = land_reports(store(tmp_path), path, company_timezone="UTC", clock=lambda: LANDED)
    assert result.counts() == dict.fromkeys(result.counts(), 0)
    assert fetch(path, "SELECT * FROM conversion_by_source") == []
    assert fetch(path, "SELECT * FROM funnel_totals") == [(0, 0, 0, 0, 0, 0, 0.0)]
    assert fetch(path, "SELECT * FROM missed_call_callbacks_summary") == [
        (0, 0, 0, None, None, None)
    ]


def test_every_landed_row_carries_its_tenant(tmp_path: Path) -> None:
    engine = store(tmp_path)
    seed(engine)
    path = tmp_path / "r.duckdb"
    land_reports(engine, path, company_timezone="UTC", clock=lambda: LANDED)
    for table in ("calls", "crm_writes", "quarantine", "crm_records", "runs", "users"):
        assert fetch(path, f"SELECT DISTINCT tenant FROM {table}") in ([("acme",)], []), table
    assert fetch(path, "SELECT count(*) FROM calls WHERE tenant = 'acme'") != [(0,)]


def test_rows_are_landed_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(land, "CHUNK_ROWS", 2)
    engine = store(tmp_path)
    with Session(engine) as s:
        for i in range(5):
            s.add(call(f"k{i}", phone_key=f"50000000{i}", client_e164=f"+38050000000{i}"))
        s.commit()
    path = tmp_path / "r.duckdb"
    assert land_reports(engine, path, company_timezone="UTC", clock=lambda: LANDED).calls == 5
    assert fetch(path, "SELECT calls, callers FROM funnel_totals") == [(5, 5)]


def test_an_unwritable_reporting_file_is_a_reporting_error(tmp_path: Path) -> None:
    target = tmp_path / "is_a_folder.duckdb"
    target.mkdir()
    with pytest.raises(ReportingError, match=r"is_a_folder\.duckdb"):
        land_reports(store(tmp_path), target, company_timezone="UTC", clock=lambda: LANDED)


def test_a_later_landing_replaces_only_what_changed_and_equals_a_full_one(tmp_path: Path) -> None:
    engine = store(tmp_path)
    seed(engine)
    path = tmp_path / "r.duckdb"
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    later, latest = T + timedelta(hours=2), T + timedelta(hours=4)  # beyond the overlap
    with Session(engine) as s:
        s.add(call("d", updated_at=later, attached_module="Leads"))
        s.commit()
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    # Mark a landed row the store no longer changes: a full landing would overwrite it.
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE calls SET detail = 'landed before' WHERE uniqueid = 'b'")
    with Session(engine) as s:
        failed = s.get(CallRecord, ("acme", "c"))
        assert failed is not None
        failed.status, failed.reason, failed.updated_at = "synced", None, latest
        s.add(failed)
        lead = write("d", "lead", "L4")
        lead.updated_at = latest
        s.add(lead)
        s.commit()
    result = land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    assert (result.calls, result.crm_writes) == (5, 4)
    assert fetch(path, "SELECT detail FROM calls WHERE uniqueid = 'b'") == [("landed before",)]
    assert fetch(path, "SELECT status FROM calls WHERE uniqueid = 'c'") == [("synced",)]
    assert fetch(path, "SELECT lead_id, attached_id FROM calls WHERE uniqueid = 'd'") == [
        ("L4", "L4")
    ]

    full = tmp_path / "full.duckdb"
    land_reports(engine, full, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    for table in ("calls", "crm_writes"):
        sql = (
            f"SELECT * EXCLUDE (detail) FROM {table} ORDER BY ALL"
            if table == "calls"
            else (f"SELECT * FROM {table} ORDER BY ALL")
        )
        assert fetch(path, sql) == fetch(full, sql)
    assert fetch(path, "SELECT * FROM conversion_by_source") == fetch(
        full, "SELECT * FROM conversion_by_source"
    )


def test_another_store_in_the_same_file_is_landed_in_full(tmp_path: Path) -> None:
    first = store(tmp_path)
    seed(first)
    path = tmp_path / "r.duckdb"
    land_reports(first, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = store(other_dir)
    with Session(other) as s:
        s.add(call("z"))
        s.commit()
    result = land_reports(other, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    assert result.calls == 1
    assert fetch(path, "SELECT uniqueid FROM calls") == [("z",)]
