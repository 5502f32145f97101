"""The reporting views on a small hand-computed dataset: exact numbers, ranges, time zones.

The dataset (times in UTC; Kyiv is UTC+2 in early March). P1..P5 are clients' phone keys.

| call | UTC time  | dir | outcome   | key | client   | UTM                      | employee | lead |
|------|-----------|-----|-----------|-----|----------|--------------------------|----------|------|
| c01  | 01 08:00  | in  | answered  | P1  | new      | google/cpc/spring        | anna     | L1   |
| c02  | 01 09:00  | in  | missed    | P2  | new      | google/cpc/spring        | -        | L2   |
| c03  | 01 09:30  | out | answered  | P2  | existing | -                        | boris    |      |
| c05  | 01 21:30  | in  | answered  | P1  | existing | facebook/social/retarget | boris    |      |
| c04  | 01 22:30  | in  | voicemail | P3  | new      | - (00:30 on the 2nd, Kyiv)| -       | L3   |
| c06  | 02 10:00  | in  | answered  | P4  | new      | google/cpc/spring        | unmapped | L4   |
| c07  | 02 10:05  | in  | answered  | P4  | new      | google/cpc/spring        | anna     | L4 again (rerun) |
| c08  | 02 12:00  | in  | missed    | P5  | new      | facebook/social/-        | -        | write failed |
| c09  | 02 13:00  | in  | answered  | P5  | new      | facebook/social/-        | anna     | L5   |
| c10  | 02 14:00  | out | missed    | P3  | existing | -                        | anna     |      |
| c11  | 02 15:00  | in  | answered  | own number (skipped)                                   |
| c12  | 02 16:00  | in  | -         | no client number (quarantined)                         |
| c13  | 03 08:00  | out | answered  | P2  | existing | -                        | boris    |      |
| c14  | 03 09:00  | in  | answered  | P2  | existing | '' / '' (empty = none)   | boris    |      |

CRM: L1 converted into deal D1 (Closed Won, 1000, owner anna); L2 not converted, now owned by
boris; L3 converted into contact C3 only (deals D3 Closed Lost, D3b Closed Won 200); L4
converted into D4 (Closed Won, 500.5), now owned by anna; L5 not in the phone index yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, create_engine

from models.tables import CallRecord, CrmIndexRecord, UserRecord, WriteRecord
from tasks.reporting.land import land_reports
from tasks.reporting.views import query_between

KYIV = ZoneInfo("Europe/Kyiv")
LANDED = datetime(2024, 3, 4, tzinfo=UTC)
P1, P2, P3, P4, P5 = "501111111", "502222222", "503333333", "504444444", "505555555"
ANNA, BORIS, TOP = "u-anna", "u-boris", "u-top"
GOOGLE = ("google", "cpc", "spring")
FACEBOOK = ("facebook", "social", None)
RETARGET = ("facebook", "social", "retarget")
NO_UTM: tuple[str | None, str | None, str | None] = (None, None, None)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def add_call(
    s: Session,
    uid: str,
    when: datetime,
    direction: str,
    outcome: str | None,
    key: str | None,
    client_status: str | None,
    utm: tuple[str | None, str | None, str | None] = NO_UTM,
    employee: str | None = None,
    row: int | None = None,
    status: str = "synced",
    reason: str | None = None,
) -> None:
    s.add(
        CallRecord(
            uniqueid=uid,
            status=status,
            reason=reason,
            fingerprint=uid,
            raw_json="{}",
            started_at=when,
            ended_at=when,
            direction=direction,
            outcome=outcome,
            client_e164=None if key is None else "+380" + key,
            phone_key=key,
            client_status=client_status,
            utm_source=utm[0],
            utm_medium=utm[1],
            utm_campaign=utm[2],
            employee_user_id=employee,
            scenario_row=row,
            first_seen_at=when,
            updated_at=when,
        )
    )


def add_write(
    s: Session, uid: str, slot: str, owner: str, zoho_id: str | None, status: str = "success"
) -> None:
    s.add(
        WriteRecord(
            sync_key=f"{uid}/{slot}",
            uniqueid=uid,
            module="Leads" if slot == "lead" else "Tasks",
            op="insert",
            kind="lead" if slot == "lead" else "open_task",
            owner_id=owner,
            zoho_id=zoho_id,
            status=status,
            payload_json="{}",
            created_at=LANDED,
            updated_at=LANDED,
        )
    )


def add_crm(s: Session, module: str, rid: str, owner: str, **values: Any) -> None:
    s.add(CrmIndexRecord(module=module, id=rid, owner_id=owner, modified_time=LANDED, **values))


def build_store(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        add_call(s, "c01", at(1, 8), "inbound", "answered", P1, "new", GOOGLE, ANNA, 1)
        add_call(s, "c02", at(1, 9), "inbound", "missed", P2, "new", GOOGLE, None, 6)
        add_call(s, "c03", at(1, 9, 30), "outbound", "answered", P2, "existing", NO_UTM, BORIS, 11)
        add_call(s, "c04", at(1, 22, 30), "inbound", "voicemail", P3, "new", NO_UTM, None, 8)
        add_call(s, "c05", at(1, 21, 30), "inbound", "answered", P1, "existing", RETARGET, BORIS, 4)
        add_call(s, "c06", at(2, 10), "inbound", "answered", P4, "new", GOOGLE, None, 2)
        add_call(s, "c07", at(2, 10, 5), "inbound", "answered", P4, "new", GOOGLE, ANNA, 1)
        add_call(
            s, "c08", at(2, 12), "inbound", "missed", P5, "new", FACEBOOK, None, 6, status="failed"
        )
        add_call(s, "c09", at(2, 13), "inbound", "answered", P5, "new", FACEBOOK, ANNA, 1)
        add_call(
            s, "c10", at(2, 14), "outbound", "missed", P3, "existing", NO_UTM, ANNA, 13,
            status="skipped", reason="outbound_not_answered",
        )  # fmt: skip
        add_call(
            s, "c11", at(2, 15), "inbound", "answered", "441234567", None, GOOGLE,
            status="skipped", reason="own_number",
        )  # fmt: skip
        add_call(
            s, "c12", at(2, 16), "inbound", None, None, None, GOOGLE,
            status="quarantined", reason="no_client_number",
        )  # fmt: skip
        add_call(s, "c13", at(3, 8), "outbound", "answered", P2, "existing", NO_UTM, BORIS, 11)
        add_call(s, "c14", at(3, 9), "inbound", "answered", P2, "existing", ("", " ", ""), BORIS, 3)

        add_write(s, "c01", "lead", ANNA, "L1")
        add_write(s, "c01", "task", ANNA, "T1")
        add_write(s, "c02", "lead", TOP, "L2")
        add_write(s, "c04", "lead", TOP, "L3")
        add_write(s, "c06", "lead", TOP, "L4")
        add_write(s, "c07", "lead", ANNA, "L4")  # the rerun: Zoho answered with the same lead
        add_write(s, "c08", "lead", TOP, None, status="failed")
        add_write(s, "c09", "lead", ANNA, "L5")

        add_crm(s, "Leads", "L1", ANNA, converted=True, converted_deal_id="D1")
        add_crm(s, "Leads", "L2", BORIS)
        add_crm(s, "Leads", "L3", TOP, converted=True, converted_contact_id="C3")
        add_crm(s, "Leads", "L4", ANNA, converted=True, converted_deal_id="D4")
        add_crm(s, "Contacts", "C3", TOP)
        add_crm(s, "Deals", "D1", ANNA, stage="Closed Won", amount=1000.0, contact_id="C1")
        add_crm(s, "Deals", "D3", TOP, stage="Closed Lost", amount=50.0, contact_id="C3")
        add_crm(s, "Deals", "D3b", TOP, stage="Closed Won", amount=200.0, contact_id="C3")
        add_crm(s, "Deals", "D4", ANNA, stage="Closed Won", amount=500.5, contact_id="C4")
        s.add(UserRecord(id=ANNA, email="anna@acme.test", full_name="Anna Ivanova"))
        s.add(UserRecord(id=BORIS, email="boris@acme.test", full_name="Boris Bondar"))
        s.commit()


@pytest.fixture(scope="module")
def report_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    base = tmp_path_factory.mktemp("reporting_views")
    engine = create_engine(f"sqlite:///{base / 'state.db'}")
    build_store(engine)
    path = base / "reports.duckdb"
    land_reports(engine, path, company_timezone="Europe/Kyiv", clock=lambda: LANDED)
    engine.dispose()
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in con.execute(sql, list(params)).fetchall()]


def test_conversion_by_source_columns_are_the_contract(
    report_db: duckdb.DuckDBPyConnection,
) -> None:
    cursor = report_db.execute("SELECT * FROM conversion_by_source")
    assert [d[0] for d in cursor.description] == [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "calls",
        "callers",
        "new_callers",
        "leads_created",
        "leads_converted",
        "conversion_rate",
    ]


def test_conversion_by_source(report_db: duckdb.DuckDBPyConnection) -> None:
    got = rows(report_db, "SELECT * FROM conversion_by_source")
    assert got == [
        # c01, c02, c06, c07: P4 calls twice; L4 was recorded twice and counts once.
        ("google", "cpc", "spring", 4, 3, 3, 3, 2, pytest.approx(2 / 3)),
        # c04 (no UTM) and c14 (empty UTM); P2's first call was under google.
        ("(direct)", "(none)", "(none)", 2, 2, 1, 1, 1, 1.0),
        # c08 (lead write failed) and c09 (L5, not in the phone index: not converted).
        ("facebook", "social", "(none)", 2, 1, 1, 1, 0, 0.0),
        # c05: a repeat caller, no lead: the rate is NULL, not a division by zero.
        ("facebook", "social", "retarget", 1, 1, 0, 0, 0, None),
    ]


def test_conversion_by_agent(report_db: duckdb.DuckDBPyConnection) -> None:
    assert rows(report_db, "SELECT * FROM conversion_by_agent") == [
        # user, name, answered, inbound, outbound, new leads, converted, deals won, amount
        ("u-boris", "Boris Bondar", 4, 2, 2, 1, 0, 0, 0.0),  # c03 c05 c13 c14; owns L2 now
        ("u-anna", "Anna Ivanova", 3, 3, 0, 3, 2, 2, 1500.5),  # c01 c07 c09; L1 L4 L5
        ("(unmapped)", "(unmapped)", 1, 1, 0, 0, 0, 0, 0.0),  # c06
        ("u-top", "u-top", 0, 0, 0, 1, 1, 1, 200.0),  # no users row: the id stands in
    ]


def test_missed_call_callbacks(report_db: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        report_db,
        "SELECT uniqueid, local_date, outcome, client_masked, callback_uniqueid,"
        " callback_direction, callback_user_id, delay_minutes FROM missed_call_callbacks",
    )
    assert got == [
        ("c02", date(2024, 3, 1), "missed", "***2222", "c03", "outbound", BORIS, 30.0),
        # c10 called P3 back but nobody answered: not a callback.
        ("c04", date(2024, 3, 2), "voicemail", "***3333", None, None, None, None),
        ("c08", date(2024, 3, 2), "missed", "***5555", "c09", "inbound", ANNA, 60.0),
    ]
    callback_at = rows(report_db, "SELECT callback_at FROM missed_call_callbacks")[0][0]
    assert callback_at == at(1, 9, 30)


def test_missed_call_callbacks_summary(report_db: duckdb.DuckDBPyConnection) -> None:
    assert rows(report_db, "SELECT * FROM missed_call_callbacks_summary") == [
        (3, 2, 1, pytest.approx(1 / 3), 45.0, 45.0)
    ]


def test_daily_funnel_uses_the_company_time_zone(report_db: duckdb.DuckDBPyConnection) -> None:
    assert rows(report_db, "SELECT * FROM daily_funnel") == [
        # c05 at 23:30 Kyiv stays on the 1st; c04 at 22:30 UTC on the 1st is 00:30 Kyiv on the 2nd.
        (date(2024, 3, 1), 3, 2, 2, 2, 1, 1, 1000.0),
        (date(2024, 3, 2), 5, 3, 3, 3, 2, 2, 700.5),
        (date(2024, 3, 3), 1, 1, 0, 0, 0, 0, 0.0),
    ]


def test_funnel_totals(report_db: duckdb.DuckDBPyConnection) -> None:
    assert rows(report_db, "SELECT * FROM funnel_totals") == [(9, 5, 5, 5, 3, 3, 1700.5)]


def test_range_is_half_open_in_company_time(report_db: duckdb.DuckDBPyConnection) -> None:
    start = datetime(2024, 3, 2, tzinfo=KYIV)  # 2024-03-01 22:00 UTC
    end = datetime(2024, 3, 3, tzinfo=KYIV)
    _, by_source = query_between(report_db, "conversion_by_source", start, end)
    assert by_source == [
        ("facebook", "social", "(none)", 2, 1, 1, 1, 0, 0.0),
        ("google", "cpc", "spring", 2, 1, 1, 1, 1, 1.0),
        ("(direct)", "(none)", "(none)", 1, 1, 1, 1, 1, 1.0),
    ]
    _, summary = query_between(report_db, "missed_call_callbacks_summary", start, end)
    assert summary == [(2, 1, 1, 0.5, 60.0, 60.0)]
    _, daily = query_between(report_db, "daily_funnel", start, end)
    assert [d[0] for d in daily] == [date(2024, 3, 2)]
    _, agents = query_between(report_db, "conversion_by_agent", start, end)
    assert agents[0] == ("u-anna", "Anna Ivanova", 2, 2, 0, 2, 1, 1, 500.5)


def test_new_callers_count_only_first_calls_inside_the_range(
    report_db: duckdb.DuckDBPyConnection,
) -> None:
    start = datetime(2024, 3, 3, tzinfo=KYIV)
    _, totals = query_between(report_db, "funnel_totals", start, None)
    assert totals == [(1, 1, 0, 0, 0, 0, 0.0)]  # c14: P2 first called on the 1st


def test_macros_accept_sql_literals(report_db: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        report_db,
        "SELECT calls FROM funnel_totals_between("
        "TIMESTAMPTZ '2024-03-01 00:00:00+02', TIMESTAMPTZ '2024-03-02 00:00:00+02')",
    )
    assert got == [(3,)]


def test_query_between_rejects_naive_bounds_and_unknown_reports(
    report_db: duckdb.DuckDBPyConnection,
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        query_between(report_db, "daily_funnel", datetime(2024, 3, 1), None)  # noqa: DTZ001
    with pytest.raises(ValueError, match="unknown report"):
        query_between(report_db, "calls; DROP TABLE calls", None, None)


def test_a_zone_behind_utc_keeps_late_evening_calls_on_their_local_date(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        # 23:30 in New York on 1 March is 04:30 UTC on 2 March.
        add_call(s, "late", at(2, 4, 30), "inbound", "answered", P1, "new", GOOGLE, ANNA, 1)
        add_call(s, "next", at(2, 14), "inbound", "answered", P2, "new", GOOGLE, ANNA, 1)
        s.commit()
    path = tmp_path / "r.duckdb"
    land_reports(engine, path, company_timezone="America/New_York", clock=lambda: LANDED)
    with duckdb.connect(str(path), read_only=True) as con:
        assert rows(con, "SELECT local_date, calls FROM daily_funnel") == [
            (date(2024, 3, 1), 1),
            (date(2024, 3, 2), 1),
        ]
        assert rows(con, "SELECT started_at_local FROM calls WHERE uniqueid = 'late'") == [
            (datetime(2024, 3, 1, 23, 30),)  # noqa: DTZ001 - DuckDB TIMESTAMP is wall-clock time
        ]
