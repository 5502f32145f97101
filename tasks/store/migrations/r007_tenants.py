"""Revision 7: every state row carries its tenant (company).

Each table gets a first column ``tenant`` (``default`` for the rows it holds: a store of one
company is that company's), the column leads its primary key, and its indexes lead with it. A
primary key cannot be changed in place on SQLite, so every table is rebuilt the same way on both
databases: a new table with the reflected columns plus ``tenant``, the rows copied, the old table
dropped and the new one renamed; then the indexes. All in the upgrade's one transaction.

The new tables are built from what the database holds (reflection), never from the models: a
revision must build the same thing whatever the models become later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "tenants"

TENANT = "default"

TABLES = (
    "calls",
    "crm_writes",
    "quarantine",
    "cursors",
    "crm_index",
    "crm_phone_keys",
    "runs",
    "zoho_cache",
    "zoho_users",
    "webhook_inbox",
    "zoho_tokens",
    "run_leases",
    "rotation_turns",
    "phone_claims",
    "callbacks",
)

INDEXES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "calls": (
        ("ix_calls_work", ("status", "calldate", "uniqueid")),
        ("ix_calls_reason", ("reason",)),
        ("ix_calls_phone_key", ("phone_key",)),
        ("ix_calls_started_at", ("started_at",)),
    ),
    "crm_writes": (
        ("ix_crm_writes_status", ("status",)),
        ("ix_crm_writes_uniqueid", ("uniqueid",)),
        ("ix_crm_writes_zoho_id", ("zoho_id",)),
    ),
    "quarantine": (
        ("ix_quarantine_reason", ("reason",)),
        ("ix_quarantine_uniqueid", ("uniqueid",)),
    ),
    "crm_index": (
        ("ix_crm_index_phone_keys", ("phone_keys",)),
        ("ix_crm_index_contact_id", ("contact_id",)),
        ("ix_crm_index_updated_at", ("updated_at",)),
    ),
    "webhook_inbox": (
        ("ix_webhook_inbox_event", ("event",)),
        ("ix_webhook_inbox_status", ("status",)),
        ("ix_webhook_inbox_uniqueid", ("uniqueid",)),
    ),
    "phone_claims": (("ix_phone_claims_lead_key", ("lead_key",)),),
    "callbacks": (
        ("ix_callbacks_phone_key", ("phone_key",)),
        ("ix_callbacks_status", ("status",)),
        ("ix_callbacks_task_id", ("task_id",)),
    ),
}
"""The indexes after this revision (each led by ``tenant``); the old ones go with their table."""


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    for name in TABLES:
        _rebuild(conn, name)
    for table, indexes in INDEXES.items():
        for index, columns in indexes:
            op.create_index(index, table, ["tenant", *columns], unique=False)


def _rebuild(conn: sa.Connection, name: str) -> None:
    old = sa.Table(name, sa.MetaData(), autoload_with=conn)
    keys = [c.name for c in old.primary_key.columns]
    new_name = f"{name}__tenants"
    columns = [sa.Column("tenant", sa.String(), nullable=False)]
    columns += [sa.Column(c.name, c.type, nullable=c.nullable) for c in old.columns]
    new = sa.Table(new_name, sa.MetaData(), *columns, sa.PrimaryKeyConstraint("tenant", *keys))
    new.create(conn)
    names = [c.name for c in old.columns]
    conn.execute(
        new.insert().from_select(
            ["tenant", *names],
            sa.select(sa.literal(TENANT, sa.String()), *[old.c[n] for n in names]),
        )
    )
    old.drop(conn)
    conn.execute(sa.text(f'ALTER TABLE "{new_name}" RENAME TO "{name}"'))
    if conn.dialect.name == "postgresql":
        # The primary key's index keeps the name of the table it was made for.
        conn.execute(sa.text(f'ALTER INDEX "{new_name}_pkey" RENAME TO "{name}_pkey"'))
