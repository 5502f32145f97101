"""Land the state store into the DuckDB reporting file (SPEC 11 "Reporting").

:func:`land_reports` reads the store through SQLAlchemy (any backend: SQLite, PostgreSQL — no
DuckDB extension is needed, none can be downloaded where callsync runs) and rebuilds, in ONE
DuckDB transaction, these tables and then the views of :mod:`tasks.reporting.views`:

``calls``
    One row per call the store holds, whatever became of it: times (``started_at``/``ended_at``
    TIMESTAMPTZ; ``local_date`` and ``started_at_local`` in the company time zone, so a call at
    23:30 in Kyiv is that day's even though it is the next day in UTC), ``direction``,
    ``outcome``, ``disposition``, ``client_status`` (``new``/``existing``), ``phone_key``,
    ``client_masked`` (``***4567``), ``client_e164``, the employee, ``scenario_row``, ``status``,
    ``reason``, ``changed_after_sync`` (the fields Ringostat changed after the call was synced),
    the UTM values, ``ambiguous``, ``lead_id`` (the Zoho id of the lead this call
    created, from the write ledger), ``attached_module``/``attached_id``, ``recording_url``,
    ``synced_at``.
``crm_writes``
    The write ledger without payloads: one row per ``rs_sync_key`` with its Zoho id, status and
    Zoho's error code/message.
``quarantine``
    Rows that could not be processed, with their reason (raw rows stay in the store).
``crm_records``
    callsync's phone index of Leads, Contacts and Deals: owner, ``converted`` (+ contact/deal
    ids and time when known), deal ``stage``/``amount``/``closing_date``.
``runs``
    Sync runs: window, status, summary JSON.
``callbacks``
    The call-back tasks callsync wrote for missed calls and voicemails: how many calls each
    stands for, and who completed it when (the call that reached the client, or a person in
    Zoho).
``report_meta``
    One row: ``company_timezone`` and ``landed_at``.

Every table's first column is ``tenant``: the company whose store rows these are (the store is
read through a tenant's scope, so a tenant's file holds its own rows only).
``landing_state``
    One row: which store (URL without password), table layout and newest store change the last
    landing covered — what the next landing needs to be incremental.

Privacy: the file holds full client numbers (``calls.client_e164``) — it is the analyst's copy
of the store. The rendered reports (:mod:`tasks.reporting.render`) only show masked numbers.

Idempotent: every landing brings the file to what a full rebuild from the store would hold,
inside one transaction, so a reader never sees half a landing (``calls`` and ``crm_writes`` are
updated incrementally when the file holds an earlier landing of the same store, the other
tables rebuilt). It is *not* meant to run concurrently with anything else
that opens the same DuckDB file: DuckDB lets one process hold a file open for writing, and a
second one (another landing, an analyst's open session) fails with :class:`ReportingError`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no pandas-stubs in the lock
import sqlalchemy
from sqlalchemy import Table

from models.call import mask_phone
from models.tables import (
    CallbackRecord,
    CallRecord,
    CrmIndexRecord,
    QuarantineRecord,
    RunRecord,
    UserRecord,
    WriteRecord,
)
from tasks.reporting.views import create_views

CHUNK_ROWS = 20_000
"""Rows read from the store and inserted into DuckDB at a time (bounds memory)."""

Row = Mapping[Any, Any]  # SQLAlchemy RowMapping: column name -> value


class ReportingError(RuntimeError):
    """The DuckDB file cannot be written or read (locked by another process, not a report...)."""


@dataclass(frozen=True, slots=True)
class Column:
    """A DuckDB column: its name, SQL type, and how to get its value from a store row."""

    name: str
    sql_type: str
    get: Callable[[Row], Any]


def _src(name: str, sql_type: str, source: str | None = None) -> Column:
    key = source or name
    return Column(name, sql_type, lambda row: row.get(key))


def _masked(row: Row) -> str | None:
    number = row.get("client_e164")
    return mask_phone(number) if number else None


def _local(zone: ZoneInfo) -> Callable[[Row], datetime | None]:
    def get(row: Row) -> datetime | None:
        started: datetime | None = row.get("started_at")
        # Naive wall-clock time in the company zone: DuckDB's TIMESTAMP (no zone) column.
        return None if started is None else started.astimezone(zone).replace(tzinfo=None)

    return get


def _local_date(zone: ZoneInfo) -> Callable[[Row], date | None]:
    def get(row: Row) -> date | None:
        started: datetime | None = row.get("started_at")
        return None if started is None else started.astimezone(zone).date()

    return get


def _closing_date(row: Row) -> date | None:
    text = row.get("closing_date")
    if not text:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:  # Zoho's date fields are yyyy-MM-dd; anything else is not a date
        return None


def _float(key: str) -> Callable[[Row], float | None]:
    def get(row: Row) -> float | None:
        value = row.get(key)
        return None if value is None else float(value)

    return get


TENANT = _src("tenant", "VARCHAR")
"""Every landed row carries its tenant (the company), as in the store: a tenant's file holds its
own rows only, and files of several tenants can be read together (``UNION ALL BY NAME``)."""


def _call_columns(zone: ZoneInfo) -> list[Column]:
    return [
        TENANT,
        _src("uniqueid", "VARCHAR"),
        _src("started_at", "TIMESTAMPTZ"),
        _src("ended_at", "TIMESTAMPTZ"),
        Column("local_date", "DATE", _local_date(zone)),
        Column("started_at_local", "TIMESTAMP", _local(zone)),
        _src("direction", "VARCHAR"),
        _src("outcome", "VARCHAR"),
        _src("disposition", "VARCHAR"),
        _src("call_type", "VARCHAR"),
        _src("duration", "INTEGER"),
        _src("billsec", "INTEGER"),
        _src("client_status", "VARCHAR"),
        _src("phone_key", "VARCHAR"),
        Column("client_masked", "VARCHAR", _masked),
        _src("client_e164", "VARCHAR"),
        _src("employee_user_id", "VARCHAR"),
        _src("employee_label", "VARCHAR"),
        _src("scenario_row", "INTEGER"),
        _src("status", "VARCHAR"),
        _src("reason", "VARCHAR"),
        _src("detail", "VARCHAR"),
        _src("changed_after_sync", "VARCHAR"),
        _src("utm_source", "VARCHAR"),
        _src("utm_medium", "VARCHAR"),
        _src("utm_campaign", "VARCHAR"),
        _src("utm_term", "VARCHAR"),
        _src("utm_content", "VARCHAR"),
        _src("google_client_id", "VARCHAR", "client_id"),
        _src("ambiguous", "BOOLEAN"),
        Column("lead_id", "VARCHAR", lambda row: None),  # filled from crm_writes below
        _src("attached_module", "VARCHAR"),
        _src("attached_id", "VARCHAR"),
        _src("recording_url", "VARCHAR"),
        _src("first_seen_at", "TIMESTAMPTZ"),
        _src("synced_at", "TIMESTAMPTZ"),
        _src("attempts", "INTEGER"),
        _src("run_id", "VARCHAR"),
    ]


WRITE_COLUMNS = [
    TENANT,
    _src("sync_key", "VARCHAR"),
    _src("uniqueid", "VARCHAR"),
    _src("module", "VARCHAR"),
    _src("op", "VARCHAR"),
    _src("kind", "VARCHAR"),
    _src("owner_id", "VARCHAR"),
    _src("target_id", "VARCHAR"),
    _src("zoho_id", "VARCHAR"),
    _src("status", "VARCHAR"),
    _src("attempts", "INTEGER"),
    _src("error_code", "VARCHAR"),
    _src("error_message", "VARCHAR"),
    _src("created_at", "TIMESTAMPTZ"),
    _src("updated_at", "TIMESTAMPTZ"),
]

QUARANTINE_COLUMNS = [
    TENANT,
    _src("row_hash", "VARCHAR"),
    _src("uniqueid", "VARCHAR"),
    _src("reason", "VARCHAR"),
    _src("detail", "VARCHAR"),
    _src("created_at", "TIMESTAMPTZ"),
    _src("requeued_at", "TIMESTAMPTZ"),
]

CRM_COLUMNS = [
    TENANT,
    _src("module", "VARCHAR"),
    _src("id", "VARCHAR"),
    _src("owner_id", "VARCHAR"),
    _src("name", "VARCHAR"),
    _src("modified_time", "TIMESTAMPTZ"),
    _src("converted", "BOOLEAN"),
    _src("converted_contact_id", "VARCHAR"),
    _src("converted_deal_id", "VARCHAR"),
    _src("converted_at", "TIMESTAMPTZ"),
    _src("lead_status", "VARCHAR"),
    _src("stage", "VARCHAR"),
    Column("amount", "DOUBLE", _float("amount")),
    Column("closing_date", "DATE", _closing_date),
    _src("contact_id", "VARCHAR"),
    _src("deleted", "BOOLEAN"),
]

USER_COLUMNS = [
    TENANT,
    _src("id", "VARCHAR"),
    _src("email", "VARCHAR"),
    _src("full_name", "VARCHAR"),
    _src("active", "BOOLEAN"),
    _src("role", "VARCHAR"),
]

CALLBACK_COLUMNS = [
    _src("task_key", "VARCHAR"),
    _src("task_id", "VARCHAR"),
    _src("uniqueid", "VARCHAR"),
    _src("phone_key", "VARCHAR"),
    _src("owner_id", "VARCHAR"),
    _src("status", "VARCHAR"),
    _src("calls", "INTEGER"),
    _src("opened_at", "TIMESTAMPTZ"),
    _src("last_call_at", "TIMESTAMPTZ"),
    _src("closed_at", "TIMESTAMPTZ"),
    _src("closed_by", "VARCHAR"),
    _src("closed_by_name", "VARCHAR"),
    _src("closed_call", "VARCHAR"),
]

RUN_COLUMNS = [
    TENANT,
    _src("run_id", "VARCHAR"),
    _src("flow", "VARCHAR"),
    _src("started_at", "TIMESTAMPTZ"),
    _src("finished_at", "TIMESTAMPTZ"),
    _src("window_start", "TIMESTAMPTZ"),
    _src("window_end", "TIMESTAMPTZ"),
    _src("status", "VARCHAR"),
    _src("summary_json", "VARCHAR"),
]


@dataclass(frozen=True, slots=True)
class LandResult:
    """Row counts of the landed tables."""

    duckdb_path: Path
    calls: int
    crm_writes: int
    quarantine: int
    crm_records: int
    runs: int
    users: int = 0
    callbacks: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "crm_writes": self.crm_writes,
            "quarantine": self.quarantine,
            "users": self.users,
            "crm_records": self.crm_records,
            "runs": self.runs,
            "callbacks": self.callbacks,
        }


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _series(values: list[Any], sql_type: str) -> Any:
    """A pandas column DuckDB reads as ``sql_type`` (nullable, whatever the first rows hold)."""
    if sql_type == "TIMESTAMPTZ":
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True)
    if sql_type in ("TIMESTAMP", "DATE"):
        return pd.to_datetime(pd.Series(values, dtype=object))
    if sql_type in ("INTEGER", "BIGINT"):
        return pd.array(values, dtype="Int64")
    if sql_type == "DOUBLE":
        return pd.array(values, dtype="Float64")
    if sql_type == "BOOLEAN":
        return pd.array(values, dtype="boolean")
    return pd.Series([None if v is None else str(v) for v in values], dtype=object)


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _create(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[Column]) -> None:
    body = ", ".join(f"{c.name} {c.sql_type}" for c in columns)
    con.execute(f"CREATE OR REPLACE TABLE {table} ({body})")


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[Column], rows: Iterable[Row]
) -> int:
    """Create the table and insert the store rows in chunks; returns the row count."""
    _create(con, table, columns)
    return _load_chunks(con, table, columns, rows)


def _load_chunks(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[Column],
    rows: Iterable[Row],
    *,
    replace_key: str | None = None,
) -> int:
    """Insert store rows in chunks through a registered DataFrame; with ``replace_key``, the
    landed rows with the same keys are deleted first. Returns the row count."""
    select = ", ".join(f"CAST({c.name} AS {c.sql_type})" for c in columns)
    total = 0
    for batch in _batches(rows, CHUNK_ROWS):
        frame = pd.DataFrame(
            {c.name: _series([c.get(r) for r in batch], c.sql_type) for c in columns}
        )
        con.register("_landing_chunk", frame)
        try:
            if replace_key is not None:
                con.execute(
                    f"DELETE FROM {table} WHERE {replace_key} IN "
                    f"(SELECT {replace_key} FROM _landing_chunk)"
                )
            con.execute(f"INSERT INTO {table} SELECT {select} FROM _landing_chunk")
        finally:
            con.unregister("_landing_chunk")
        total += len(batch)
    return total


def _store_rows(conn: sqlalchemy.Connection, table: Table, order: str) -> Iterator[Row]:
    result = conn.execution_options(yield_per=CHUNK_ROWS).execute(
        sqlalchemy.select(table).order_by(table.c[order])
    )
    for part in result.mappings().partitions():
        yield from part


# The lead a call created: a successful insert into Leads, recorded under the call's id.
_FILL_LEAD_IDS = """
UPDATE calls SET lead_id = created.zoho_id
FROM (
    SELECT uniqueid, min(zoho_id) AS zoho_id
    FROM crm_writes
    WHERE module = 'Leads' AND op = 'insert' AND status = 'success' AND zoho_id IS NOT NULL
    GROUP BY uniqueid
) AS created
WHERE calls.uniqueid = created.uniqueid
"""

# A call attached to a lead planned in the same run has no attached_id until the writer filled
# it in; the lead it created is that record.
_FILL_ATTACHED = """
UPDATE calls SET attached_id = lead_id
WHERE attached_id IS NULL AND attached_module = 'Leads' AND lead_id IS NOT NULL
"""


INCREMENTAL_OVERLAP = timedelta(minutes=10)
"""Store rows changed this long before the previous landing's newest change are landed again
(a transaction still open while the previous landing read is covered by it)."""

# The incremental tables: their store rows carry ``updated_at`` and are never deleted. Each with
# its store table, the column to read it in order, and the key (a DuckDB expression) that says
# which landed row a store row replaces.
_INCREMENTAL = {
    "calls": (CallRecord, "uniqueid", "uniqueid"),
    "crm_writes": (WriteRecord, "sync_key", "sync_key"),
    "crm_records": (CrmIndexRecord, "id", "module || ':' || id"),
}
MEMORY_LIMIT = "256MB"
"""DuckDB's memory for a landing: a larger one spills to disk beside the file instead of growing
the run's process with the size of the store."""


def _layout(zone: ZoneInfo) -> str:
    """The shape of the incremental tables: another shape (a new version) means a full landing."""
    columns = {
        "calls": _call_columns(zone),
        "crm_writes": WRITE_COLUMNS,
        "crm_records": CRM_COLUMNS,
    }
    text = "|".join(
        f"{table}:" + ",".join(f"{c.name} {c.sql_type}" for c in cols)
        for table, cols in columns.items()
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _landed_through(con: duckdb.DuckDBPyConnection, store_url: str, layout: str) -> datetime | None:
    """The newest store change the previous landing of this store, in this layout, covered."""
    try:
        rows = con.execute("SELECT store_url, layout, store_through FROM landing_state").fetchall()
        tables = {
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
    except duckdb.Error:
        return None
    if len(rows) != 1 or not set(_INCREMENTAL) <= tables:
        return None
    url, landed_layout, through = rows[0]
    if url != store_url or landed_layout != layout or through is None:
        return None
    if not isinstance(through, datetime):
        return None
    return through if through.tzinfo else through.replace(tzinfo=UTC)


def _store_through(conn: sqlalchemy.Connection) -> datetime | None:
    marks = [
        conn.execute(sqlalchemy.select(sqlalchemy.func.max(_t(model).c.updated_at))).scalar()
        for model, _, _ in _INCREMENTAL.values()
    ]
    known = [m if m.tzinfo else m.replace(tzinfo=UTC) for m in marks if m is not None]
    return max(known) if known else None


def _changed_rows(
    conn: sqlalchemy.Connection, table: Table, order: str, since: datetime
) -> Iterator[Row]:
    result = conn.execution_options(yield_per=CHUNK_ROWS).execute(
        sqlalchemy.select(table).where(table.c.updated_at >= since).order_by(table.c[order])
    )
    for part in result.mappings().partitions():
        yield from part


def _replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    columns: Sequence[Column],
    rows: Iterable[Row],
) -> int:
    """Replace the landed rows of these store rows (delete by key, insert); returns the count."""
    return _load_chunks(con, table, columns, rows, replace_key=key)


def land_reports(
    engine: sqlalchemy.Engine,
    duckdb_path: Path,
    *,
    company_timezone: str,
    clock: Callable[[], datetime] = _utc_now,
) -> LandResult:
    """Bring the reporting tables and views in ``duckdb_path`` up to date with the state store.

    ``calls``, ``crm_writes`` and ``crm_records`` (the tables that grow with every call) are
    landed incrementally when the file holds an earlier landing of the same store in the same
    layout: only the store rows changed since (with :data:`INCREMENTAL_OVERLAP`) are replaced.
    The other tables are small and rebuilt. The result is the same as a full landing.
    """
    zone = ZoneInfo(company_timezone)
    path = Path(duckdb_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = _layout(zone)
    store_url = engine.url.render_as_string(hide_password=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise ReportingError(f"cannot open the reporting file {path}: {exc}") from exc
    try:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET preserve_insertion_order = false")
        previous = _landed_through(con, store_url, layout)
        con.begin()
        with engine.connect() as conn:
            through = _store_through(conn)
            counts: dict[str, int] = {}
            shapes = {
                "calls": _call_columns(zone),
                "crm_writes": WRITE_COLUMNS,
                "crm_records": CRM_COLUMNS,
            }
            for table, (model, order, key) in _INCREMENTAL.items():
                columns = shapes[table]
                if previous is None or through is None:
                    counts[table] = _insert(
                        con, table, columns, _store_rows(conn, _t(model), order)
                    )
                    continue
                since = previous - INCREMENTAL_OVERLAP
                _replace_rows(
                    con, table, key, columns, _changed_rows(conn, _t(model), order, since)
                )
                [(landed,)] = con.execute(f"SELECT count(*) FROM {table}").fetchall()
                counts[table] = int(landed)
            counts |= {
                "quarantine": _insert(
                    con,
                    "quarantine",
                    QUARANTINE_COLUMNS,
                    _store_rows(conn, _t(QuarantineRecord), "row_hash"),
                ),
                "runs": _insert(
                    con, "runs", RUN_COLUMNS, _store_rows(conn, _t(RunRecord), "run_id")
                ),
                "users": _insert(
                    con, "users", USER_COLUMNS, _store_rows(conn, _t(UserRecord), "id")
                ),
                "callbacks": _insert(
                    con,
                    "callbacks",
                    CALLBACK_COLUMNS,
                    _store_rows(conn, _t(CallbackRecord), "task_key"),
                ),
            }
        con.execute(_FILL_LEAD_IDS)
        con.execute(_FILL_ATTACHED)
        con.execute(
            "CREATE OR REPLACE TABLE report_meta AS "
            "SELECT CAST(? AS VARCHAR) AS company_timezone, CAST(? AS TIMESTAMPTZ) AS landed_at",
            [company_timezone, clock()],
        )
        con.execute(
            "CREATE OR REPLACE TABLE landing_state AS "
            "SELECT CAST(? AS VARCHAR) AS store_url, CAST(? AS VARCHAR) AS layout, "
            "CAST(? AS TIMESTAMPTZ) AS store_through",
            [store_url, layout, through],
        )
        create_views(con)
        con.commit()
    except duckdb.Error as exc:
        _rollback(con)
        raise ReportingError(f"landing into {path} failed: {exc}") from exc
    except BaseException:
        _rollback(con)
        raise
    finally:
        con.close()
    return LandResult(duckdb_path=path, **counts)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # The error that brought us here matters more than a rollback with no transaction open.
    with contextlib.suppress(duckdb.Error):
        con.rollback()


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table
