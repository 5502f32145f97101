"""Revision 8: a Zoho org's concurrency slots, shared by every process of a tenant
(``zoho_slots``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "zoho slots"


def upgrade(op: Operations) -> None:
    op.create_table(
        "zoho_slots",
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "slot"),
    )
