"""The store's shared plumbing: engine, clock, one transaction per method, chunked IN queries."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, Table, bindparam, insert, inspect, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col

from models.tables import (
    CallRecord,
    CrmIndexRecord,
    CrmPhoneKeyRecord,
    CursorRecord,
    LeaseRecord,
    OrgCacheRecord,
    QuarantineRecord,
    RotationRecord,
    RunRecord,
    TokenRecord,
    UserRecord,
    WebhookEventRecord,
    WriteRecord,
)
from tasks.store.engine import open_engine

T = TypeVar("T")

IN_CHUNK = 500
"""Values per ``IN (...)`` clause: far below SQLite's variable limit, one query per 500 ids."""

TABLE_NAMES = tuple(
    str(model.__tablename__)
    for model in (
        CallRecord,
        WriteRecord,
        QuarantineRecord,
        CursorRecord,
        CrmIndexRecord,
        CrmPhoneKeyRecord,
        RunRecord,
        UserRecord,
        TokenRecord,
        LeaseRecord,
        WebhookEventRecord,
        RotationRecord,
        OrgCacheRecord,
    )
)
"""The store's tables (models/tables.py): created on open, other SQLModel tables left alone."""


def add_missing_columns(engine: Engine, tables: Sequence[Table]) -> list[str]:
    """Add the nullable columns a newer callsync defines to a store an older one created.

    ``create_all`` creates missing tables but never alters existing ones; a column added to a
    table later is always nullable (or has a server default), so ``ALTER TABLE ... ADD COLUMN``
    is all an upgrade needs, on SQLite and PostgreSQL alike. Returns ``table.column`` added.
    """
    inspector = inspect(engine)
    have = {t.name: {c["name"] for c in inspector.get_columns(t.name)} for t in tables}
    missing = [
        (table, column)
        for table in tables
        for column in table.columns
        if column.nullable and column.name not in have[table.name]
    ]
    if not missing:
        return []
    with engine.begin() as conn:
        for table, column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
    return [f"{table.name}.{column.name}" for table, column in missing]


def fill_derived_columns(engine: Engine) -> None:
    """Fill what a store written by an older callsync lacks and a newer one derives: the calls'
    ``calldate`` (from the raw row) and the phone-key rows of the index (from its text column).
    Each runs once: afterwards nothing is missing."""
    with engine.begin() as conn:
        missing = conn.execute(
            sa_select(col(CallRecord.uniqueid), col(CallRecord.raw_json)).where(
                col(CallRecord.calldate).is_(None)
            )
        ).all()
        if missing:
            conn.execute(
                update(CallRecord)
                .where(col(CallRecord.uniqueid) == bindparam("b_uid"))
                .values(calldate=bindparam("calldate")),
                [
                    {"b_uid": uid, "calldate": str(json.loads(raw).get("calldate") or "")}
                    for uid, raw in missing
                ],
            )
        has_keys = conn.execute(sa_select(col(CrmPhoneKeyRecord.phone_key)).limit(1)).first()
        if has_keys is None:
            rows = conn.execute(
                sa_select(
                    col(CrmIndexRecord.module),
                    col(CrmIndexRecord.id),
                    col(CrmIndexRecord.phone_keys),
                )
            ).all()
            keys = [
                {"phone_key": key, "module": module, "record_id": rid}
                for module, rid, text in rows
                for key in sorted(set((text or "").split()))
            ]
            if keys:
                conn.execute(insert(CrmPhoneKeyRecord), keys)


def utc_now() -> datetime:
    """The production clock. Tests inject their own."""
    return datetime.now(UTC)


def chunks(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def values_by_key(
    session: Session, key: Any, columns: Sequence[Any], keys: Iterable[str]
) -> dict[str, tuple[Any, ...]]:
    """``key`` value -> the values of ``columns``, for the stored rows among ``keys`` (chunked
    ``IN`` queries, each key asked once)."""
    found: dict[str, tuple[Any, ...]] = {}
    conn = session.connection()
    for batch in chunks(unique(list(keys))):
        for row in conn.execute(sa_select(key, *columns).where(key.in_(batch))):
            found[row[0]] = tuple(row[1:])
    return found


class StoreBase:
    """Engine and clock. Every public method of the store runs in one :meth:`_tx` transaction."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.url = url
        self._clock = clock
        self._engine: Engine = open_engine(url)
        metadata = SQLModel.metadata
        tables = [metadata.tables[name] for name in TABLE_NAMES]
        metadata.create_all(self._engine, tables=tables)
        add_missing_columns(self._engine, tables)
        for table in tables:
            for index in table.indexes:
                index.create(self._engine, checkfirst=True)
        fill_derived_columns(self._engine)

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock returned a naive datetime")
        return now.astimezone(UTC)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        Objects stay readable after the commit (``expire_on_commit=False``), so methods can
        return the rows they loaded.
        """
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (reporting reads the tables through it)."""
        return self._engine

    def close(self) -> None:
        """Release the connections (an in-memory database is gone after this)."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def unique(values: Sequence[T]) -> list[T]:
    """``values`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(values))
