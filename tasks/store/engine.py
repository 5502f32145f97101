"""Opening the state store's database: SQLite by default, PostgreSQL (``postgresql+psycopg://``)
in production.

On every database, a NUL character is taken out of every text parameter before it is sent:
PostgreSQL refuses NUL in text (``DataError``, failing the whole transaction — a run, or every
call of a window), and a value must never be the reason a run fails. SQLite would keep it, so
it is removed there too: both stores hold the same text.

SQLite needs three things a server database does not:

- a file database's parent folder may not exist yet (``sqlite:///.callsync/state.db``): create it;
- WAL journaling and a busy timeout, so a report reading the file does not block a sync run and
  two writers wait for each other instead of failing with "database is locked";
- ``BEGIN IMMEDIATE`` instead of the sqlite3 driver's legacy transaction control, which starts a
  transaction only at the first INSERT/UPDATE: a read-modify-write (ingest, the ledger) would
  otherwise read outside the transaction and could lose a concurrent writer's update.

An in-memory database (``sqlite://``) lives as long as its one connection, so it gets a
:class:`~sqlalchemy.pool.StaticPool` (every session shares that connection).

Every engine hides its statements' parameters (``hide_parameters``): SQLAlchemy puts them in the
message of every error it raises, and for the ``calls`` table they are raw rows with the callers'
numbers — which would reach ERROR log lines, Prefect's task failures and the inbox's details.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import create_engine

BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another one before giving up."""

BUSY_MS = int(BUSY_TIMEOUT_S * 1000)
_LOCK_WAIT: ContextVar[float | None] = ContextVar("callsync_store_lock_wait", default=None)


@contextmanager
def lock_wait(seconds: float) -> Iterator[None]:
    """Transactions begun inside this block (in this thread or task) wait at most ``seconds``
    for another writer's lock instead of :data:`BUSY_TIMEOUT_S`, then fail with SQLite's
    "database is locked" (an ``OperationalError``). For a caller that must answer on time —
    the webhook receiver answers 503 rather than keep Ringostat waiting.

    SQLite only (its busy timeout is set per transaction); other databases keep their own lock
    waits, and such a caller bounds its wait from outside as well."""
    token = _LOCK_WAIT.set(max(0.0, seconds))
    try:
        yield
    finally:
        _LOCK_WAIT.reset(token)


def _in_memory(database: str | None) -> bool:
    return database in (None, "", ":memory:") or (database or "").startswith("file::memory:")


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


def _clean_parameters(parameters: Any) -> Any:
    """The DBAPI parameters (a mapping or a sequence, or a list of them for executemany) with
    NUL removed from text; the same object when no value holds one (the usual case)."""
    if isinstance(parameters, Mapping):
        if not any(isinstance(v, str) and "\x00" in v for v in parameters.values()):
            return parameters
        return {k: _without_nul(v) for k, v in parameters.items()}
    if isinstance(parameters, tuple):
        if not any(isinstance(v, str) and "\x00" in v for v in parameters):
            return parameters
        return tuple(_without_nul(v) for v in parameters)
    if isinstance(parameters, list):
        cleaned = [_clean_parameters(p) for p in parameters]
        return (
            parameters if all(a is b for a, b in zip(cleaned, parameters, strict=True)) else cleaned
        )
    return parameters


def _strip_nul(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        return statement, _clean_parameters(parameters)


def open_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and immediate transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pre_ping: a pooled connection the server closed (restart, idle timeout) is replaced
        # instead of failing a run's next statement.
        server = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        _strip_nul(server)
        return server

    memory = _in_memory(parsed.database)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        "hide_parameters": True,
    }
    if memory:
        kwargs["poolclass"] = StaticPool
    else:
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the driver (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        wait = _LOCK_WAIT.get()
        busy_ms = int((BUSY_TIMEOUT_S if wait is None else wait) * 1000)
        if conn.info.get("busy_ms", BUSY_MS) != busy_ms:  # a pragma only when it changes
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
            conn.info["busy_ms"] = busy_ms
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    _strip_nul(engine)
    return engine


def warm_drivers() -> None:
    """Import the database drivers a store may need (psycopg and SQLAlchemy's dialect for it)
    and parse a URL once (SQLAlchemy compiles its URL pattern on first use), so that a process
    forked after this (:mod:`flows.runtime.warm_engine`) opens its store without doing either;
    psycopg is skipped when it is not installed."""
    import contextlib
    import importlib

    make_url("postgresql+psycopg://warm@127.0.0.1/warm")
    for name in ("sqlalchemy.dialects.sqlite.pysqlite", "sqlalchemy.dialects.postgresql.psycopg"):
        importlib.import_module(name)
    with contextlib.suppress(ImportError):
        importlib.import_module("psycopg")
