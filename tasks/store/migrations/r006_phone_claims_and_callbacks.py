"""Revision 6: one lead per number and call-backs that finish themselves.

- ``phone_claims``: the phone key a path (log sync, webhook receiver) holds while it creates the
  lead of a new caller, so that two paths never create two leads for one number;
- ``callbacks``: the call-back tasks callsync wrote, with the missed calls merged into each and
  who completed it when.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "phone claims and callbacks"


def upgrade(op: Operations) -> None:
    op.create_table(
        "callbacks",
        sa.Column("task_key", sa.String(), nullable=False),
        sa.Column("uniqueid", sa.String(), nullable=False),
        sa.Column("phone_key", sa.String(), nullable=False),
        sa.Column("e164", sa.String(), nullable=False),
        sa.Column("country_code", sa.Integer(), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("task_id", sa.String(), nullable=True),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("last_call_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.Column("closed_by_name", sa.String(), nullable=True),
        sa.Column("closed_call", sa.String(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task_key"),
    )
    op.create_index(op.f("ix_callbacks_phone_key"), "callbacks", ["phone_key"], unique=False)
    op.create_index(op.f("ix_callbacks_status"), "callbacks", ["status"], unique=False)
    op.create_index(op.f("ix_callbacks_task_id"), "callbacks", ["task_id"], unique=False)
    op.create_table(
        "phone_claims",
        sa.Column("phone_key", sa.String(), nullable=False),
        sa.Column("lead_key", sa.String(), nullable=False),
        sa.Column("uniqueid", sa.String(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("e164", sa.String(), nullable=False),
        sa.Column("country_code", sa.Integer(), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone_key"),
    )
    op.create_index(op.f("ix_phone_claims_lead_key"), "phone_claims", ["lead_key"], unique=False)
