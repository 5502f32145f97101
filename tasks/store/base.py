"""The store's shared plumbing: engine, tenant, schema, clock, one transaction per method, chunked
IN queries.

Stores of one database in one process share one engine (its connection pool), whatever their
tenant: a receiver serving two hundred companies holds a pool, not two hundred. The engine is
opened (and the schema brought to the head revision) by the first store of a URL and disposed of
when the last one closes. An in-memory SQLite database is never shared: each store's is its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from models.call import Phone
from tasks.store.engine import _in_memory, open_engine
from tasks.store.migrations import upgrade_store
from tasks.store.tenancy import DEFAULT_TENANT, TenantSession, check_tenant, scoped

T = TypeVar("T")

CLOSE_WAIT_S = 30.0
"""How long closing waits for transactions in flight in other threads."""
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


class StoreClosed(RuntimeError):
    """A store used after :meth:`StoreBase.close` (a late callback of a run that ended)."""


class _Engines:
    """The engines of this process, one per database URL, counted by the stores using them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Engine, int]] = {}

    def acquire(self, url: str) -> Engine:
        if _in_memory(make_url(url).database) and url.startswith("sqlite"):
            return self._open_new(url)
        with self._lock:
            engine, users = self._open.get(url) or (None, 0)
            if engine is None:
                engine = self._open_new(url)
            self._open[url] = (engine, users + 1)
            return engine

    def release(self, url: str, engine: Engine) -> None:
        with self._lock:
            held, users = self._open.get(url) or (None, 0)
            if held is engine and users > 1:
                self._open[url] = (held, users - 1)
                return
            if held is engine:
                del self._open[url]
        engine.dispose()

    @staticmethod
    def _open_new(url: str) -> Engine:
        engine = open_engine(url)
        try:
            # A new store gets its tables, an older one its missing revisions (under a lock:
            # any number of processes may open it at once); see tasks/store/migrations.
            upgrade_store(engine)
        except BaseException:
            engine.dispose()
            raise
        return engine


ENGINES = _Engines()


class StoreBase:
    """Engine, tenant and clock. Every public method of the store runs in one :meth:`_tx`
    transaction, scoped to the store's tenant (:mod:`tasks.store.tenancy`)."""

    def __init__(
        self,
        url: str,
        *,
        tenant: str = DEFAULT_TENANT,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.url = url
        self.tenant = check_tenant(tenant)
        self._clock = clock
        self._shared: Engine = ENGINES.acquire(url)
        self._engine: Engine = scoped(self._shared, tenant)
        self._closed = False
        self._active = 0
        self._idle = threading.Condition()
        """Transactions in flight (threads: the org's slots are taken, and the writer's answers
        recorded, off the event loop)."""
        self._one_connection: AbstractContextManager[object] = (
            threading.RLock() if isinstance(self._shared.pool, StaticPool) else nullcontext()
        )
        """An in-memory database is one connection that every thread shares: its transactions
        take turns."""

    def now(self) -> datetime:
        """The store's clock (UTC)."""
        return self._now()

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock returned a naive datetime")
        return now.astimezone(UTC)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        Objects stay readable after the commit (``expire_on_commit=False``), so methods can
        return the rows they loaded. A closed store refuses: its engine may be another store's
        now, and a connection opened after the close would be left open.
        """
        with self._idle:
            if self._closed:
                raise StoreClosed(f"the state store of tenant {self.tenant!r} was closed")
            self._active += 1
        try:
            with (
                self._one_connection,
                TenantSession(self._engine, self.tenant, expire_on_commit=False) as session,
                session.begin(),
            ):
                yield session
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    @property
    def engine(self) -> Engine:
        """The engine scoped to this store's tenant (reporting reads the tables through it)."""
        return self._engine

    @property
    def shared_engine(self) -> Engine:
        """The engine over every tenant's rows (cross-tenant reports, ``callsync tenants``);
        nothing is ever inserted through it."""
        return self._shared

    def close(self) -> None:
        """Release the connections (an in-memory database is gone after this), once the
        transactions in flight in other threads have ended: a connection they hold when the
        engine is disposed would be left open."""
        with self._idle:
            if self._closed:
                return
            self._closed = True
            self._idle.wait_for(lambda: self._active == 0, timeout=CLOSE_WAIT_S)
        ENGINES.release(self.url, self._shared)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stored_phone(row: Any) -> Phone:
    """The phone a row keeps in its ``e164``, ``phone_key``, ``country_code`` and ``valid``
    columns (a phone claim, a call-back)."""
    return Phone(
        raw=row.e164,
        e164=row.e164,
        key=row.phone_key,
        country_code=row.country_code,
        valid=bool(row.valid),
    )


def require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def unique(values: Sequence[T]) -> list[T]:
    """``values`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(values))
