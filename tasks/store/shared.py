"""What every process of one installation shares through the store: the Zoho token, run leases.

Both are a row with an owner and an expiry, taken by compare-and-swap: one ``UPDATE ... WHERE``
naming the state the row must be in, whose row count says whether this process won (writers are
serialized by ``BEGIN IMMEDIATE`` on SQLite, by row locks on PostgreSQL). A missing row is
inserted first; on PostgreSQL two inserters can race, and the loser simply finds the row there.

Leases expire: a process killed with SIGKILL holds nothing for longer than its lease's ``ttl``.
A live holder renews its lease (:meth:`SharedMixin.renew_lease`, the heartbeat) well before then.
The row names its holder's process (:class:`HolderProcess`), so that :mod:`tasks.lease` can take
over at once from a holder on the same host whose process is gone (``evict``). On PostgreSQL the
lease is a session-held advisory lock instead (:meth:`SharedMixin.take_session_lock`), and the
row only says who holds it, since when.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models.tables import LeaseRecord, TokenRecord
from tasks.store.base import StoreBase, utc_now
from tasks.store.locks import SessionLock, take_session_lock


@dataclass(frozen=True, slots=True)
class HolderProcess:
    """The process holding a lease: enough to tell, on its host, whether it still runs."""

    host: str
    pid: int
    started: str | None
    """The process's start mark (boot and start time): a pid reused later differs here."""


@dataclass(frozen=True, slots=True)
class LeaseHeld:
    """Someone else holds the lease: who, since when, until when unless renewed (None: until
    the holder ends, a session lock), and the holder's process when it was recorded."""

    label: str
    since: datetime | None
    expires_at: datetime | None
    holder: str = ""
    process: HolderProcess | None = None


def _held(rec: LeaseRecord, now: datetime, *, expires: bool = True) -> LeaseHeld:
    process = None
    if rec.holder_host is not None and rec.holder_pid is not None:
        process = HolderProcess(rec.holder_host, rec.holder_pid, rec.holder_started)
    return LeaseHeld(
        rec.label or rec.holder or "?",
        rec.acquired_at or now,
        (rec.expires_at or now) if expires else None,
        rec.holder or "",
        process,
    )


def _process_columns(process: HolderProcess | None) -> dict[str, Any]:
    return {
        "holder_host": process.host if process else None,
        "holder_pid": process.pid if process else None,
        "holder_started": process.started if process else None,
    }


@dataclass(frozen=True, slots=True)
class StoredToken:
    token_enc: str
    fingerprint: str
    api_domain: str
    expires_at: datetime


def _ensure_row(session: Session, model: type[TokenRecord] | type[LeaseRecord], name: str) -> None:
    if session.get(model, name) is not None:
        return
    try:
        with session.begin_nested():
            session.connection().execute(insert(model).values(name=name))
    except IntegrityError:
        pass  # another process inserted it first


class SharedMixin(StoreBase):
    """The ``zoho_tokens`` and ``run_leases`` tables."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(url, clock=clock)
        self._token_claims: dict[tuple[str, str], Connection] = {}
        """PostgreSQL: the open transactions holding a token row lock, per (name, owner)."""

    # -- the Zoho access token ----------------------------------------------------------

    def stored_token(self, name: str) -> StoredToken | None:
        with self._tx() as session:
            rec = session.get(TokenRecord, name)
            if rec is None or not rec.token_enc or rec.expires_at is None:
                return None
            return StoredToken(
                rec.token_enc, rec.fingerprint or "", rec.api_domain or "", rec.expires_at
            )

    def claim_token_refresh(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Become the one process that mints the next token (for ``ttl`` at most).

        PostgreSQL: the claim is a row lock (``SELECT ... FOR UPDATE SKIP LOCKED``) held by an
        open transaction until :meth:`save_token` commits or :meth:`release_token_refresh` rolls
        it back — a process killed while minting loses it at once, where the CAS claim blocks
        the others for ``ttl``. Elsewhere: the compare-and-swap on ``refresh_owner``."""
        if self.session_locks:
            return self._lock_token_row(name, owner)
        now = self._now()
        with self._tx() as session:
            _ensure_row(session, TokenRecord, name)
            result = session.connection().execute(
                update(TokenRecord)
                .where(
                    col(TokenRecord.name) == name,
                    or_(
                        col(TokenRecord.refresh_owner).is_(None),
                        col(TokenRecord.refresh_owner) == owner,
                        col(TokenRecord.refresh_until) < now,
                    ),
                )
                .values(refresh_owner=owner, refresh_until=now + ttl)
            )
            return result.rowcount == 1

    def _lock_token_row(self, name: str, owner: str) -> bool:
        claims = self._token_claims
        if (name, owner) in claims:
            return True
        with self._tx() as session:
            _ensure_row(session, TokenRecord, name)
        conn = self._engine.connect()
        try:
            row = conn.execute(
                select(col(TokenRecord.name))
                .where(col(TokenRecord.name) == name)
                .with_for_update(skip_locked=True)
            ).first()
        except BaseException:
            conn.close()
            raise
        if row is None:  # another process holds the row: it is minting
            conn.close()
            return False
        claims[(name, owner)] = conn
        return True

    def _token_claim(self, name: str, owner: str) -> Connection | None:
        return self._token_claims.pop((name, owner), None)

    def save_token(self, name: str, owner: str, token: StoredToken) -> None:
        """Keep a freshly minted token and release the refresh claim (if still ours)."""
        now = self._now()
        held = self._token_claim(name, owner)
        if held is not None:  # PostgreSQL: written under the row lock, which the commit frees
            try:
                held.execute(
                    update(TokenRecord)
                    .where(col(TokenRecord.name) == name)
                    .values(
                        token_enc=token.token_enc,
                        fingerprint=token.fingerprint,
                        api_domain=token.api_domain,
                        expires_at=token.expires_at,
                        minted_at=now,
                        mints=col(TokenRecord.mints) + 1,
                    )
                )
                held.commit()
            finally:
                held.close()
            return
        with self._tx() as session:
            _ensure_row(session, TokenRecord, name)
            rec = session.get(TokenRecord, name)
            assert rec is not None
            rec.token_enc, rec.fingerprint = token.token_enc, token.fingerprint
            rec.api_domain, rec.expires_at = token.api_domain, token.expires_at
            rec.minted_at = now
            rec.mints += 1
            if rec.refresh_owner == owner:
                rec.refresh_owner, rec.refresh_until = None, None
            session.add(rec)

    def release_token_refresh(self, name: str, owner: str) -> None:
        held = self._token_claim(name, owner)
        if held is not None:
            held.close()  # rolls back: the row lock is free
            return
        with self._tx() as session:
            session.connection().execute(
                update(TokenRecord)
                .where(col(TokenRecord.name) == name, col(TokenRecord.refresh_owner) == owner)
                .values(refresh_owner=None, refresh_until=None)
            )

    def invalidate_token(self, name: str, fingerprint: str) -> None:
        """Zoho refused this token (``INVALID_TOKEN``): nobody uses it again. A token minted
        meanwhile by another process (another fingerprint) is left alone."""
        with self._tx() as session:
            session.connection().execute(
                update(TokenRecord)
                .where(col(TokenRecord.name) == name, col(TokenRecord.fingerprint) == fingerprint)
                .values(expires_at=self._now())
            )

    # -- run leases ---------------------------------------------------------------------

    def acquire_lease(
        self,
        name: str,
        holder: str,
        label: str,
        ttl: timedelta,
        *,
        process: HolderProcess | None = None,
        evict: str | None = None,
    ) -> LeaseHeld | None:
        """Take the lease ``name`` for ``ttl``; None when taken, else who holds it.

        ``evict`` names a holder known to be dead (its process is gone): the lease is taken from
        it even before it expires — from it only, so a live run that took the lease meanwhile
        keeps it."""
        now = self._now()
        free = [
            col(LeaseRecord.holder).is_(None),
            col(LeaseRecord.holder) == holder,
            col(LeaseRecord.expires_at) < now,
        ]
        if evict is not None:
            free.append(col(LeaseRecord.holder) == evict)
        with self._tx() as session:
            _ensure_row(session, LeaseRecord, name)
            result = session.connection().execute(
                update(LeaseRecord)
                .where(col(LeaseRecord.name) == name, or_(*free))
                .values(
                    holder=holder,
                    label=label,
                    acquired_at=now,
                    heartbeat_at=now,
                    expires_at=now + ttl,
                    **_process_columns(process),
                )
            )
            if result.rowcount == 1:
                return None
            rec = session.get(LeaseRecord, name)
            assert rec is not None
            return _held(rec, now)

    def lease_holder(self, name: str) -> LeaseHeld | None:
        """Who the lease row names as holder (None: nobody). With a session lock, the row says
        who took the lock last; it expires with that holder's session, not at ``expires_at``."""
        now = self._now()
        with self._tx() as session:
            rec = session.get(LeaseRecord, name)
            if rec is None or rec.holder is None:
                return None
            return _held(rec, now, expires=not self.session_locks)

    def record_lease_holder(
        self, name: str, holder: str, label: str, process: HolderProcess | None
    ) -> None:
        """Write who holds the lease (whoever holds its session lock is the holder)."""
        now = self._now()
        with self._tx() as session:
            _ensure_row(session, LeaseRecord, name)
            session.connection().execute(
                update(LeaseRecord)
                .where(col(LeaseRecord.name) == name)
                .values(
                    holder=holder,
                    label=label,
                    acquired_at=now,
                    heartbeat_at=now,
                    expires_at=None,
                    **_process_columns(process),
                )
            )

    @property
    def session_locks(self) -> bool:
        """Whether this database holds locks per session (PostgreSQL advisory locks)."""
        return self._engine.dialect.name == "postgresql"

    def take_session_lock(self, name: str, *, wait: timedelta | None = None) -> SessionLock | None:
        """PostgreSQL: the advisory lock ``name``, held by a session of its own until released
        or until this process dies (:mod:`tasks.store.locks`); None when another session holds
        it (after waiting up to ``wait``)."""
        if not self.session_locks:
            raise RuntimeError(f"{self._engine.dialect.name} has no session-held locks")
        return take_session_lock(self._engine, name, wait=wait)

    def renew_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """The heartbeat: push the expiry forward; False when the lease is no longer ours."""
        now = self._now()
        with self._tx() as session:
            result = session.connection().execute(
                update(LeaseRecord)
                .where(col(LeaseRecord.name) == name, col(LeaseRecord.holder) == holder)
                .values(heartbeat_at=now, expires_at=now + ttl)
            )
            return result.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as session:
            session.connection().execute(
                update(LeaseRecord)
                .where(col(LeaseRecord.name) == name, col(LeaseRecord.holder) == holder)
                .values(holder=None, label=None, expires_at=None, **_process_columns(None))
            )
