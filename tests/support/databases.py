"""The databases a state-store test runs on: SQLite, and PostgreSQL when a server is given.

``TEST_POSTGRES_URL`` names a PostgreSQL server on 127.0.0.1 whose user may create
databases (``.ci/run`` starts a throwaway one; ``source .ci/postgres.sh && start_postgres`` does
the same for a developer). Each test gets a database of its own, dropped after it. Without the
variable the PostgreSQL cases are skipped with that reason, unless
``TEST_POSTGRES_REQUIRED`` is set (CI), where a missing server fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

# Not CALLSYNC_*: callsync reads every CALLSYNC_ variable as a setting and refuses unknown ones.
POSTGRES_ENV = "TEST_POSTGRES_URL"
REQUIRED_ENV = "TEST_POSTGRES_REQUIRED"
BACKENDS = ("sqlite", "postgresql")


def postgres_server() -> str:
    """The server's URL, or the test is skipped (failed in CI) with the reason."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        why = f"no PostgreSQL: set {POSTGRES_ENV} (source .ci/postgres.sh && start_postgres)"
        if os.environ.get(REQUIRED_ENV):
            pytest.fail(f"{why}; {REQUIRED_ENV} is set, so PostgreSQL tests must run")
        pytest.skip(why)
    return url


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty database on the test server (its SQLAlchemy URL), dropped afterwards."""
    import psycopg

    server = postgres_server()
    name = f"callsync_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq(server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def store_database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh state-store URL on ``backend``: a SQLite file in ``folder``, or a new PostgreSQL
    database."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'state.db'}"
    elif backend == "postgresql":
        with fresh_postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown store backend {backend!r}")


def libpq_url(url: str) -> str:
    """``url`` as psycopg's own ``connect`` takes it (tests that talk to the server directly)."""
    return _libpq(url)
