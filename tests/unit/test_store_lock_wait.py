"""A caller that must answer on time waits a bounded time for another writer's SQLite lock."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tasks.store import Store
from tasks.store.engine import BUSY_TIMEOUT_S, lock_wait

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_inside_lock_wait_a_locked_store_fails_fast_and_outside_it_waits(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with Store(f"sqlite:///{db}") as store:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
        try:
            started = time.monotonic()
            with lock_wait(0.05), pytest.raises(OperationalError, match="locked"):
                store.set_cursor("c", AT)
            assert time.monotonic() - started < BUSY_TIMEOUT_S / 2  # far from the default wait
        finally:
            other.execute("COMMIT")
            other.close()
        # The same pooled connection goes back to the default wait: the write now succeeds.
        store.set_cursor("c", AT)
        assert store.get_cursor("c") == AT
