"""The store's shared plumbing: engine, schema, clock, one transaction per method, chunked IN
queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import Session

from tasks.store.engine import open_engine
from tasks.store.migrations import upgrade_store

T = TypeVar("T")

IN_CHUNK = 500
"""Values per ``IN (...)`` clause: far below SQLite's variable limit, one query per 500 ids."""


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
        try:
            # A new store gets its tables, an older one its missing revisions (under a lock:
            # any number of processes may open it at once); see tasks/store/migrations.
            upgrade_store(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

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
