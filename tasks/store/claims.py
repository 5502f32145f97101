"""Phone claims (``phone_claims``): one lead per new number, whichever path creates it.

The log sync and the webhook receiver plan leads for new callers independently. Before either
writes a lead, it claims the caller's phone key here with the lead's ``rs_sync_key``; the claim
is a compare-and-swap on the key's row, which works alike on SQLite and PostgreSQL:

- a key nobody holds is inserted (``INSERT ... ON CONFLICT DO NOTHING``: of two paths inserting
  at the same moment, exactly one row survives) and read back — the path whose lead key is in
  the row won;
- a claim of the same lead is taken again (a retry of the same call) and its expiry extended;
- an expired claim (its holder died between claiming and writing) is taken over by an
  ``UPDATE ... WHERE lead_key = <the expired holder's>``: of two takers one updates the row;
- a live claim of another lead is lost: the loser plans again, and its planning sees the
  holder's lead (:meth:`ClaimsMixin.claims_for_keys`) and attaches the call to it.

The claim is released in the transaction that records the lead's answer from Zoho (success or
rejection, :meth:`tasks.store.ledger.LedgerMixin.record_results`), which is also the one that
teaches the phone index the new lead: whoever claims the key next finds the lead in the index.
A claim whose lead's outcome stayed unknown lives until it expires (:data:`CLAIM_TTL`).

A holder whose number is another client's under the country guard (``+380 66 123 4567`` and
``+48 661 234 567`` share nine digits) does not block: the two are different clients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from models.call import Phone
from models.crm import ClaimedLead
from models.tables import PhoneClaimRecord
from tasks.phones import same_client
from tasks.store.base import StoreBase, chunks, stored_phone, unique

CLAIM_TTL = timedelta(minutes=5)
"""How long a claim holds without its lead being answered: far longer than a lead insert takes
(retries included), short enough that a killed holder blocks a number only for minutes."""


@dataclass(frozen=True, slots=True)
class LeadClaim:
    """A lead about to be created for ``phone``: its sync key, call and owner."""

    phone: Phone
    lead_key: str
    uniqueid: str
    owner_id: str


@dataclass(frozen=True)
class ClaimOutcome:
    """Phone keys won (this path creates their leads) and lost (key → the holder's lead key)."""

    won: frozenset[str] = frozenset()
    lost: Mapping[str, str] = field(default_factory=dict)


def _insert_ignoring_taken(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the rows whose phone key nobody holds; a taken key is left as it is."""
    if not rows:
        return
    name = conn.dialect.name
    if name == "postgresql":
        conn.execute(
            postgresql.insert(PhoneClaimRecord).on_conflict_do_nothing(
                index_elements=["tenant", "phone_key"]
            ),
            list(rows),
        )
    elif name == "sqlite":
        conn.execute(
            sqlite.insert(PhoneClaimRecord).on_conflict_do_nothing(
                index_elements=["tenant", "phone_key"]
            ),
            list(rows),
        )
    else:  # pragma: no cover - callsync's stores are SQLite and PostgreSQL
        for row in rows:
            if conn.execute(
                select(PhoneClaimRecord.phone_key).where(
                    col(PhoneClaimRecord.phone_key) == row["phone_key"]
                )
            ).first():
                continue
            conn.execute(insert(PhoneClaimRecord).values(**row))


def release(session: Session, lead_keys: Iterable[str]) -> None:
    """Drop the claims held for these leads (their writes were answered)."""
    conn = session.connection()
    for batch in chunks(unique(list(lead_keys))):
        conn.execute(delete(PhoneClaimRecord).where(col(PhoneClaimRecord.lead_key).in_(batch)))


class ClaimsMixin(StoreBase):
    """The ``phone_claims`` table (see the module docstring)."""

    def claim_leads(
        self, claims: Sequence[LeadClaim], *, ttl: timedelta = CLAIM_TTL
    ) -> ClaimOutcome:
        """Claim each claim's phone key for its lead; one transaction for the batch."""
        wanted: dict[str, LeadClaim] = {}
        for claim in claims:
            wanted.setdefault(claim.phone.key, claim)
        if not wanted:
            return ClaimOutcome()
        now = self._now()
        until = now + ttl
        won: set[str] = set()
        lost: dict[str, str] = {}
        with self._tx() as session:
            conn = session.connection()
            for batch in chunks(list(wanted)):
                _insert_ignoring_taken(
                    conn,
                    [
                        {
                            "phone_key": key,
                            "lead_key": wanted[key].lead_key,
                            "uniqueid": wanted[key].uniqueid,
                            "owner_id": wanted[key].owner_id,
                            "e164": wanted[key].phone.e164,
                            "country_code": wanted[key].phone.country_code,
                            "valid": wanted[key].phone.valid,
                            "claimed_at": now,
                            "expires_at": until,
                        }
                        for key in batch
                    ],
                )
                rows = session.exec(
                    select(PhoneClaimRecord).where(col(PhoneClaimRecord.phone_key).in_(batch))
                ).all()
                for row in rows:
                    mine = wanted[row.phone_key]
                    if row.lead_key == mine.lead_key:
                        won.add(row.phone_key)
                    elif not same_client(mine.phone, stored_phone(row), strict_country=True):
                        won.add(row.phone_key)  # another client's number: nothing to wait for
                    elif row.expires_at <= now and self._take_over(conn, row, mine, now, until):
                        won.add(row.phone_key)
                    else:
                        lost[row.phone_key] = row.lead_key
            mine_now = [wanted[k].lead_key for k in won]
            for batch in chunks(mine_now):
                conn.execute(
                    update(PhoneClaimRecord)
                    .where(col(PhoneClaimRecord.lead_key).in_(batch))
                    .values(expires_at=until)
                )
        return ClaimOutcome(frozenset(won), lost)

    @staticmethod
    def _take_over(
        conn: Connection, row: PhoneClaimRecord, mine: LeadClaim, now: Any, until: Any
    ) -> bool:
        """Compare-and-swap an expired claim to ``mine``; False when another path was first."""
        done = conn.execute(
            update(PhoneClaimRecord)
            .where(
                col(PhoneClaimRecord.phone_key) == row.phone_key,
                col(PhoneClaimRecord.lead_key) == row.lead_key,
            )
            .values(
                lead_key=mine.lead_key,
                uniqueid=mine.uniqueid,
                owner_id=mine.owner_id,
                e164=mine.phone.e164,
                country_code=mine.phone.country_code,
                valid=mine.phone.valid,
                claimed_at=now,
                expires_at=until,
            )
        )
        return done.rowcount == 1

    def release_claims(self, lead_keys: Iterable[str]) -> None:
        """Give up the claims of these leads (their calls will not create them after all)."""
        keys = unique(list(lead_keys))
        if not keys:
            return
        with self._tx() as session:
            release(session, keys)

    def claims_for_keys(self, keys: Iterable[str]) -> list[ClaimedLead]:
        """The live claims on these phone keys: leads being created right now."""
        now = self._now()
        out: list[ClaimedLead] = []
        with self._tx() as session:
            for batch in chunks(unique(list(keys))):
                rows = session.exec(
                    select(PhoneClaimRecord).where(
                        col(PhoneClaimRecord.phone_key).in_(batch),
                        col(PhoneClaimRecord.expires_at) > now,
                    )
                ).all()
                out.extend(ClaimedLead(stored_phone(r), r.lead_key, r.owner_id) for r in rows)
        return out

    def claimed_leads(self, lead_keys: Iterable[str]) -> set[str]:
        """Which of these leads are claimed right now (being created by some path)."""
        now = self._now()
        out: set[str] = set()
        with self._tx() as session:
            for batch in chunks(unique(list(lead_keys))):
                out.update(
                    session.exec(
                        select(PhoneClaimRecord.lead_key).where(
                            col(PhoneClaimRecord.lead_key).in_(batch),
                            col(PhoneClaimRecord.expires_at) > now,
                        )
                    ).all()
                )
        return out

    def phone_claims(self) -> list[PhoneClaimRecord]:
        """Every claim row (for the operator and the tests)."""
        with self._tx() as session:
            return list(session.exec(select(PhoneClaimRecord)).all())
