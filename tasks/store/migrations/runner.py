"""Applying the store's revisions: find them, read the store's revision, upgrade under a lock.

The lock is what lets any number of processes open a fresh store at the same moment (a sync, the
receiver, a worker per tenant): without it each of them sees no tables and creates them, and all
but one fail (PostgreSQL: a unique violation on ``pg_type``; SQLite: "table already exists").

- PostgreSQL: ``pg_advisory_xact_lock`` taken first in the upgrading transaction; DDL is
  transactional there, so the others wait, then find the store at its head revision.
- SQLite: the engine starts every transaction with ``BEGIN IMMEDIATE`` (the database's write
  lock), and its DDL is transactional too; the others wait (busy timeout), then find it done.

A store already at the head costs one read and takes no lock.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import pkgutil
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    inspect,
    select,
    text,
)

if TYPE_CHECKING:
    from alembic.operations import Operations

log = logging.getLogger(__name__)

SCHEMA_TABLE = Table(
    "store_schema",
    MetaData(),
    Column("revision", Integer(), primary_key=True, autoincrement=False),
    Column("name", String(), nullable=False),
    Column("applied_at", DateTime(), nullable=False),
)
"""One row per applied revision: the store's revision is the highest."""

SCHEMA_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"callsync:store-schema").digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock key (a signed 64-bit number) held while a store is upgraded."""

_MODULE = re.compile(r"^r(\d{3})_\w+$")


@dataclass(frozen=True, slots=True)
class Migration:
    revision: int
    name: str
    module: str
    upgrade: Callable[[Operations], None]


class StoreTooNew(RuntimeError):
    """The store was upgraded by a newer callsync than this one."""

    def __init__(self, have: int, head: int) -> None:
        super().__init__(
            f"the state store is at schema revision {have}, newer than this callsync knows "
            f"({head}): upgrade callsync before running it on this store"
        )


@cache
def migrations() -> tuple[Migration, ...]:
    """The package's revisions in order; numbered 1..N without gaps or repeats."""
    package = importlib.import_module(__package__ or "tasks.store.migrations")
    found: list[Migration] = []
    for info in pkgutil.iter_modules(package.__path__):
        match = _MODULE.match(info.name)
        if match is None:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(Migration(int(match[1]), str(module.NAME), info.name, module.upgrade))
    found.sort(key=lambda m: (m.revision, m.module))
    for expected, migration in enumerate(found, start=1):
        if migration.revision != expected:
            names = ", ".join(m.module for m in found if m.revision == migration.revision)
            raise RuntimeError(
                f"store migrations must be numbered 1, 2, 3, ... without gaps or repeats; "
                f"found {names} where revision {expected} was expected: renumber the later one"
            )
    return tuple(found)


def head_revision() -> int:
    return len(migrations())


def _revision(conn: Connection) -> int:
    if not inspect(conn).has_table(SCHEMA_TABLE.name):
        return 0
    return int(conn.execute(select(func.max(SCHEMA_TABLE.c.revision))).scalar() or 0)


def current_revision(engine: Engine) -> int:
    """The store's revision (0: no revision recorded — a new store, or one from before them)."""
    with engine.connect() as conn:
        return _revision(conn)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the store's schema lock until it commits (module docstring)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        yield conn


def _operations(conn: Connection) -> Operations:
    # Imported here: Alembic costs ~0.15 s to import, and only an upgrade needs it.
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    return Operations(MigrationContext.configure(connection=conn))


def upgrade_store(engine: Engine) -> list[int]:
    """Bring the store to the head revision; the revisions applied (none when it was there)."""
    head = head_revision()
    have = current_revision(engine)
    if have == head:
        return []
    if have > head:
        raise StoreTooNew(have, head)
    applied: list[int] = []
    with _schema_lock(engine) as conn:
        have = _revision(conn)  # another process may have upgraded it while we waited
        if have > head:
            raise StoreTooNew(have, head)
        if have == head:
            return []
        SCHEMA_TABLE.create(conn, checkfirst=True)
        op = _operations(conn)
        for migration in migrations()[have:]:
            migration.upgrade(op)
            # The operator's record of when: the wall clock (a store's test clock may be naive).
            now = datetime.now(UTC).replace(tzinfo=None)
            values: dict[str, Any] = {
                "revision": migration.revision,
                "name": migration.name,
                "applied_at": now,
            }
            conn.execute(SCHEMA_TABLE.insert().values(values))
            applied.append(migration.revision)
    log.info("state store schema: revision %d -> %d (%s)", have, head, _names(applied))
    return applied


def _names(revisions: list[int]) -> str:
    return ", ".join(f"{m.revision} {m.name}" for m in migrations() if m.revision in revisions)
