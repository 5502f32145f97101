"""Revision 1, the baseline: the state store's tables as the last release without migrations
created them (frozen here; never edit this file — a change to a table is a new revision).

On a fresh database it creates them. On a store that release (or an older one) created, it
creates the tables that are missing (the webhook inbox was created only once a receiver ran) and
adds the nullable columns an older release did not have yet — what that release did on every
open — so that every store reaches the same revision 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
)

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "baseline"

BASELINE = MetaData()


def _text(name: str, *, nullable: bool = True, primary_key: bool = False) -> Column[str]:
    return Column(name, String(), nullable=nullable and not primary_key, primary_key=primary_key)


def _when(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(), nullable=nullable)


def _int(name: str, *, nullable: bool = False) -> Column[int]:
    return Column(name, Integer(), nullable=nullable)


def _flag(name: str) -> Column[bool]:
    return Column(name, Boolean(), nullable=False)


Table(
    "calls",
    BASELINE,
    _text("uniqueid", primary_key=True),
    _text("status", nullable=False),
    _text("reason"),
    _text("detail"),
    _text("fingerprint", nullable=False),
    _text("raw_json", nullable=False),
    _when("started_at"),
    _when("ended_at"),
    _text("call_type"),
    _text("direction"),
    _text("outcome"),
    _text("disposition"),
    _int("duration", nullable=True),
    _int("billsec", nullable=True),
    _text("client_e164"),
    _text("phone_key"),
    _text("employee_user_id"),
    _text("employee_label"),
    _int("scenario_row", nullable=True),
    _text("client_status"),
    _text("changed_after_sync"),
    _text("attached_module"),
    _text("attached_id"),
    _flag("ambiguous"),
    _text("recording_url"),
    _text("utm_source"),
    _text("utm_medium"),
    _text("utm_campaign"),
    _text("utm_term"),
    _text("utm_content"),
    _text("client_id"),
    _when("first_seen_at", nullable=False),
    _when("updated_at", nullable=False),
    _when("synced_at"),
    _int("attempts"),
    _text("run_id"),
    Index("ix_calls_phone_key", "phone_key"),
    Index("ix_calls_reason", "reason"),
    Index("ix_calls_started_at", "started_at"),
    Index("ix_calls_status", "status"),
)
Table(
    "crm_writes",
    BASELINE,
    _text("sync_key", primary_key=True),
    _text("uniqueid", nullable=False),
    _text("module", nullable=False),
    _text("op", nullable=False),
    _text("kind", nullable=False),
    _text("owner_id"),
    _text("target_id"),
    _text("zoho_id"),
    _text("status", nullable=False),
    _int("attempts"),
    _text("error_code"),
    _text("error_message"),
    _text("payload_json", nullable=False),
    _when("created_at", nullable=False),
    _when("updated_at", nullable=False),
    Index("ix_crm_writes_status", "status"),
    Index("ix_crm_writes_uniqueid", "uniqueid"),
    Index("ix_crm_writes_zoho_id", "zoho_id"),
)
Table(
    "quarantine",
    BASELINE,
    _text("row_hash", primary_key=True),
    _text("uniqueid"),
    _text("reason", nullable=False),
    _text("detail", nullable=False),
    _text("raw_json", nullable=False),
    _when("created_at", nullable=False),
    _when("requeued_at"),
    Index("ix_quarantine_reason", "reason"),
    Index("ix_quarantine_uniqueid", "uniqueid"),
)
Table(
    "cursors",
    BASELINE,
    _text("name", primary_key=True),
    _when("position", nullable=False),
    _when("updated_at", nullable=False),
)
Table(
    "crm_index",
    BASELINE,
    _text("module", primary_key=True),
    _text("id", primary_key=True),
    _text("owner_id", nullable=False),
    _when("modified_time", nullable=False),
    _text("phones_json", nullable=False),
    _text("phone_keys", nullable=False),
    _flag("converted"),
    _text("converted_contact_id"),
    _text("converted_deal_id"),
    _when("converted_at"),
    _text("stage"),
    Column("amount", Float(), nullable=True),
    _text("closing_date"),
    _text("contact_id"),
    _text("name"),
    _text("lead_status"),
    _text("utm_json", nullable=False),
    _text("sync_key"),
    _flag("deleted"),
    Index("ix_crm_index_phone_keys", "phone_keys"),
)
Table(
    "runs",
    BASELINE,
    _text("run_id", primary_key=True),
    _text("flow", nullable=False),
    _when("started_at", nullable=False),
    _when("finished_at"),
    _when("window_start"),
    _when("window_end"),
    _text("status", nullable=False),
    _text("summary_json", nullable=False),
)
Table(
    "zoho_users",
    BASELINE,
    _text("id", primary_key=True),
    _text("email", nullable=False),
    _text("full_name", nullable=False),
    _flag("active"),
    _text("role"),
)
Table(
    "webhook_inbox",
    BASELINE,
    _text("event_key", primary_key=True),
    _text("event", nullable=False),
    _text("uniqueid", nullable=False),
    _text("row_json", nullable=False),
    _when("received_at", nullable=False),
    _text("status", nullable=False),
    _text("outcome"),
    _text("detail"),
    _text("zoho_id"),
    _int("attempts"),
    _when("processed_at"),
    Index("ix_webhook_inbox_event", "event"),
    Index("ix_webhook_inbox_status", "status"),
    Index("ix_webhook_inbox_uniqueid", "uniqueid"),
)
Table(
    "zoho_tokens",
    BASELINE,
    _text("name", primary_key=True),
    _text("token_enc"),
    _text("fingerprint"),
    _text("api_domain"),
    _when("expires_at"),
    _when("minted_at"),
    _int("mints"),
    _text("refresh_owner"),
    _when("refresh_until"),
)
Table(
    "run_leases",
    BASELINE,
    _text("name", primary_key=True),
    _text("holder"),
    _text("label"),
    _when("acquired_at"),
    _when("heartbeat_at"),
    _when("expires_at"),
)


def upgrade(op: Operations) -> None:
    bind = op.get_bind()
    inspector = inspect(bind)
    have = set(inspector.get_table_names())
    for table in BASELINE.sorted_tables:
        if table.name not in have:
            table.create(bind)
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.nullable and column.name not in columns:
                op.add_column(table.name, Column(column.name, column.type, nullable=True))
