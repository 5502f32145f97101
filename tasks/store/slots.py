"""A Zoho org's concurrency slots in the store (``zoho_slots``): a semaphore shared by every
process of one tenant, on every machine.

Zoho answers 429 past an org's concurrency allowance (5 to 25 requests in flight by edition, 10
for "complex" calls), counted over everything the org's API client sends. One tenant's sync runs
on any worker of the pool, its webhook receiver elsewhere, a report or a doctor by hand: each
keeps to its own ``max_concurrency``, and together they keep to the org's allowance by holding a
slot here for each request in flight.

A slot is a row per (tenant, slot number), taken by one short transaction: the first free or
expired row is locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock ``BEGIN
IMMEDIATE`` takes on SQLite) and given to the holder until ``now + ttl``. Releasing clears it. A
process killed while holding slots blocks them for ``ttl`` at most (the request timeout): no
process waits on a dead one for longer than a request could have lasted.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, or_, select, update
from sqlmodel import col

from models.tables import OrgSlotRecord
from tasks.store.base import StoreBase


class SlotsMixin(StoreBase):
    """The ``zoho_slots`` table."""

    def take_org_slot(self, slots: int, holder: str, ttl: timedelta) -> int | None:
        """A free slot among the org's ``slots`` (its number), held by ``holder`` for ``ttl``;
        None when all are in use."""
        now = self._now()
        with self._tx() as session:
            conn = session.connection()
            query = (
                select(col(OrgSlotRecord.slot))
                .where(
                    col(OrgSlotRecord.slot) < slots,
                    or_(col(OrgSlotRecord.holder).is_(None), col(OrgSlotRecord.until) < now),
                )
                .order_by(col(OrgSlotRecord.slot))
                .limit(1)
            )
            if self._engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            free = conn.execute(query).scalar()
            if free is None:
                have = conn.execute(select(col(OrgSlotRecord.slot))).scalars().all()
                missing = sorted(set(range(slots)) - set(have))
                if not missing:
                    return None
                # First use (or a larger allowance): the missing rows, one of them ours. A
                # racing process inserting the same row makes this transaction fail; the
                # caller simply asks again.
                conn.execute(insert(OrgSlotRecord), [{"slot": n} for n in missing])
                free = missing[0]
            conn.execute(
                update(OrgSlotRecord)
                .where(col(OrgSlotRecord.slot) == free)
                .values(holder=holder, until=now + ttl)
            )
            return int(free)

    def free_org_slot(self, slot: int, holder: str) -> None:
        with self._tx() as session:
            session.connection().execute(
                update(OrgSlotRecord)
                .where(col(OrgSlotRecord.slot) == slot, col(OrgSlotRecord.holder) == holder)
                .values(holder=None, until=None)
            )

    def org_slots_in_use(self) -> int:
        """Slots held now (expired ones not counted): for the operator and the tests."""
        now = self._now()
        with self._tx() as session:
            rows = session.connection().execute(
                select(col(OrgSlotRecord.slot)).where(
                    col(OrgSlotRecord.holder).is_not(None), col(OrgSlotRecord.until) >= now
                )
            )
            return len(rows.all())
