"""Revision 5: ``crm_index.updated_at``, when an index row last changed: the reports land only
the CRM records that changed since their previous landing (existing rows: unknown, landed once
in full)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "index updated_at"


def upgrade(op: Operations) -> None:
    op.add_column("crm_index", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.create_index(op.f("ix_crm_index_updated_at"), "crm_index", ["updated_at"], unique=False)
