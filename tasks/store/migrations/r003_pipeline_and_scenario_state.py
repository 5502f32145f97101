"""Revision 3: the state the one pipeline and the call-back rules keep.

- ``calls.calldate`` and the index ``ix_calls_work``: the work set is read chunk by chunk in
  (calldate, uniqueid) order; existing calls get their ``calldate`` from their raw row;
- ``crm_phone_keys``: one row per phone key of each indexed CRM record, so a chunk of calls reads
  only its candidates; filled from the index's own ``phone_keys`` text;
- ``crm_index.contact_id`` indexed: the Deals of a chunk's Contacts;
- ``zoho_users.api_user``: the user callsync's token acts as (its own writes);
- ``zoho_cache``: org metadata kept between runs;
- ``rotation_turns``: the call-back rotation's turn.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "pipeline and scenario state"


def upgrade(op: Operations) -> None:
    op.create_table(
        "crm_phone_keys",
        sa.Column("phone_key", sa.String(), nullable=False),
        sa.Column("module", sa.String(), nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("phone_key", "module", "record_id"),
    )
    op.create_table(
        "rotation_turns",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("last_user_id", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "zoho_cache",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value_json", sa.String(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.add_column("calls", sa.Column("calldate", sa.String(), nullable=True))
    op.create_index("ix_calls_work", "calls", ["status", "calldate", "uniqueid"], unique=False)
    op.create_index("ix_crm_index_contact_id", "crm_index", ["contact_id"], unique=False)
    op.add_column("zoho_users", sa.Column("api_user", sa.Boolean(), nullable=True))
    _fill(op.get_bind())


def _fill(conn: sa.Connection) -> None:
    """The derived values of what the store already holds (Core statements: the models move on)."""
    calls = sa.table(
        "calls", sa.column("uniqueid", sa.String), sa.column("raw_json", sa.String),
        sa.column("calldate", sa.String),
    )  # fmt: skip
    rows = conn.execute(sa.select(calls.c.uniqueid, calls.c.raw_json)).all()
    if rows:
        conn.execute(
            calls.update()
            .where(calls.c.uniqueid == sa.bindparam("b_uid"))
            .values(calldate=sa.bindparam("calldate")),
            [
                {"b_uid": uid, "calldate": str(json.loads(raw or "{}").get("calldate") or "")}
                for uid, raw in rows
            ],
        )
    index = sa.table(
        "crm_index", sa.column("module", sa.String), sa.column("id", sa.String),
        sa.column("phone_keys", sa.String),
    )  # fmt: skip
    keys = sa.table(
        "crm_phone_keys", sa.column("phone_key", sa.String), sa.column("module", sa.String),
        sa.column("record_id", sa.String),
    )  # fmt: skip
    found = [
        {"phone_key": key, "module": module, "record_id": rid}
        for module, rid, text in conn.execute(
            sa.select(index.c.module, index.c.id, index.c.phone_keys)
        )
        for key in sorted(set((text or "").split()))
    ]
    if found:
        conn.execute(keys.insert(), found)
