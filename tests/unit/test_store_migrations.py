"""The store's schema: the revisions build what the models declare, a store of the last release
(before migrations) upgrades on open and keeps its rows, and many processes may open a new store
at the same moment. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, SQLModel, select

from models.tables import CallRecord, QuarantineRecord, TokenRecord
from tasks.store import Store
from tasks.store.engine import open_engine
from tasks.store.migrations import SCHEMA_TABLE, StoreTooNew, head_revision, migrations
from tasks.webhooks.inbox import Inbox
from tests.support.databases import BACKENDS, libpq_url, store_database

REPO = Path(__file__).resolve().parents[2]
RELEASE_1 = REPO / "tests" / "data" / "store-release-1"
"""SQL dumps of a store made by the last release without migrations (see make_dumps.py there)."""


def schema_differences(engine: Engine) -> list[Any]:
    """What Alembic finds different between the database and the models (its autogenerate
    comparison: tables, columns, types, nullability, indexes)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def ours(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
        return not (kind == "table" and name == SCHEMA_TABLE.name)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": ours, "compare_type": True}
        )
        return list(compare_metadata(context, SQLModel.metadata))


M = TypeVar("M", bound=SQLModel)


def store_rows(store: Store, model: type[M]) -> list[M]:
    with Session(store.engine) as s:
        return list(s.exec(select(model)).all())


def load_release_1(backend: str, url: str) -> None:
    """Build the store the last release left, from its SQL dump."""
    dump = (RELEASE_1 / f"{backend}.sql").read_text(encoding="utf-8")
    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.executescript(dump)
    else:
        with psycopg.connect(libpq_url(url), autocommit=True) as db:
            db.execute(dump.encode())


def test_the_revisions_build_the_tables_the_models_declare(store_url: str) -> None:
    store = Store(store_url)
    assert schema_differences(store.engine) == [], "a model changed without a migration"
    with Session(store.engine) as s:
        applied = s.exec(select(SCHEMA_TABLE.c.revision)).all()
    assert list(applied) == list(range(1, head_revision() + 1))
    store.close()


def columns(url: str, table: str) -> set[str]:
    engine = open_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def revisions(store: Store) -> list[int]:
    with Session(store.engine) as s:
        return list(s.exec(select(SCHEMA_TABLE.c.revision).order_by(SCHEMA_TABLE.c.revision)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_of_the_last_release_upgrades_on_open_and_keeps_its_rows(
    backend: str, tmp_path: Path
) -> None:
    with store_database(backend, tmp_path) as url:
        load_release_1(backend, url)
        assert "holder_pid" not in columns(url, "run_leases")
        store = Store(url)
        assert revisions(store) == list(range(1, head_revision() + 1))
        assert schema_differences(store.engine) == []
        # every row is still there
        assert {c.uniqueid for c in store_rows(store, CallRecord)} == {"release1-a", "release1-b"}
        assert store.ledger(["release1-a/lead"])["release1-a/lead"].zoho_id == "5000000000000009001"
        assert [(q.reason, q.uniqueid) for q in store_rows(store, QuarantineRecord)] == [
            ("missing_call_id", None)
        ]
        (token,) = store_rows(store, TokenRecord)
        assert (token.name, token.token_enc, token.mints) == ("zoho:release1", "sealed", 3)
        assert Inbox(store).counts() == {"pickup/done/lead_created": 1}
        # and it is a store of today: new rows next to the old, the lease names its process
        store.ingest([{"uniqueid": "today-1", "calldate": "2026-03-03 10:00:00"}], run_id="r2")
        assert (
            store.acquire_lease("callsync:runs", "me", "sync run r2", timedelta(minutes=3)) is None
        )
        store.close()
        again = Store(url)  # opened again: nothing left to do
        assert revisions(again) == list(range(1, head_revision() + 1))
        assert again.call("today-1") is not None and again.call("release1-b") is not None
        again.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_older_than_the_last_release_gets_the_tables_and_columns_it_lacks(
    backend: str, tmp_path: Path
) -> None:
    """What the last release added on open (a missing table or nullable column), revision 1
    adds too: a store that never ran the receiver has no inbox table."""
    with store_database(backend, tmp_path) as url:
        load_release_1(backend, url)
        engine = open_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE webhook_inbox"))
            conn.execute(text("ALTER TABLE crm_index DROP COLUMN sync_key"))
        engine.dispose()
        store = Store(url)
        assert schema_differences(store.engine) == []
        assert Inbox(store).counts() == {}
        store.close()


def test_a_store_upgraded_by_a_newer_callsync_is_refused(store_url: str) -> None:
    Store(store_url).close()
    engine = open_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            SCHEMA_TABLE.insert().values(
                revision=head_revision() + 1,
                name="from the future",
                applied_at=datetime(2030, 1, 1, tzinfo=UTC).replace(tzinfo=None),
            )
        )
    engine.dispose()
    with pytest.raises(StoreTooNew, match=r"revision \d+, newer than this callsync knows"):
        Store(store_url)


def test_the_revisions_are_numbered_without_gaps() -> None:
    found = migrations()
    assert [m.revision for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "baseline"


def test_fifteen_processes_open_a_new_store_at_the_same_moment(store_url: str) -> None:
    """Each process waits, imported, for the same signal, then opens the store: without the
    schema lock most of them fail creating the tables."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.open_store", store_url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(15)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=300)[0].strip() for proc in procs]
    failed = [out for proc, out in zip(procs, outputs, strict=True) if proc.returncode != 0]
    assert not failed, f"{len(failed)} of 15 processes failed to open the store: {failed[0]}"
    store = Store(store_url)
    assert revisions(store) == list(range(1, head_revision() + 1))
    store.close()
