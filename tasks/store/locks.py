"""PostgreSQL advisory locks held by a database session: freed the moment the session ends.

A lock taken with ``pg_advisory_lock`` belongs to the server-side session of the connection that
took it, not to a transaction: it is held until released or until that session ends — and a
process killed with SIGKILL ends its sessions at once (the kernel closes its sockets, the server
sees them close). That is what a run lease wants: no expiry to wait out after a crash.

The lock lives on a connection of its own, outside the pool's reuse and in autocommit (an
"idle in transaction" session can be cut by the server's idle timeout, and would keep a
snapshot open for hours). Releasing closes that connection: the session, and so the lock, end.

The key is a 64-bit hash of the lock's name and the session's schema, so that two installations
in two schemas of one database do not share a lease.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError


class SessionLock:
    """A held advisory lock and the connection whose session holds it."""

    def __init__(self, conn: Connection, key: int) -> None:
        self._conn = conn
        self.key = key
        self._turn = threading.Lock()
        """The connection is not for two threads at once (the writer checks from a thread)."""

    def held(self) -> bool:
        """True while the session lives (a live session cannot lose its lock; a dead one —
        killed by an operator, a server restart, a broken network — has lost it)."""
        with self._turn:
            try:
                self._conn.exec_driver_sql("SELECT 1").scalar()
            except SQLAlchemyError:
                return False
            return True

    @property
    def backend_pid(self) -> int:
        """The server process of the holding session (``pg_terminate_backend`` ends it)."""
        return int(self._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

    def release(self) -> None:
        """Unlock, then end the session (the connection is not returned to the pool). The
        unlock is what the next holder can count on: a closed connection's server session ends
        a moment later, not when ``close`` returns."""
        with self._turn:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except SQLAlchemyError:
                pass  # the session is gone already, and its lock with it
            finally:
                self._conn.invalidate()
                self._conn.close()


def _key(conn: Connection, name: str) -> int:
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar() or ""
    digest = hashlib.sha256(f"{schema}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def take_session_lock(
    engine: Engine, name: str, *, wait: timedelta | None = None
) -> SessionLock | None:
    """The lock ``name``, or None when another session holds it (after ``wait``, if given)."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        key = _key(conn, name)
        if wait is None:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            )
        else:
            conn.exec_driver_sql(f"SET lock_timeout = {int(wait.total_seconds() * 1000)}")
            try:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                got = True
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                    raise
                got = False
            conn.exec_driver_sql("SET lock_timeout = 0")
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    if got:
        return SessionLock(conn, key)
    conn.close()
    return None
