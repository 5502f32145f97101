"""Revision 4: ``crm_writes.rebuilt`` marks ledger rows recorded from Zoho's ``rs_sync_key``
records after a state store was lost (rebuilt, not written by this store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "ledger rebuilt from zoho"


def upgrade(op: Operations) -> None:
    op.add_column("crm_writes", sa.Column("rebuilt", sa.Boolean(), nullable=True))
