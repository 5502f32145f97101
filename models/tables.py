"""The state store's tables (SQLModel). SQLite by default, any SQLAlchemy URL in production.

Every table but the schema's own record holds the rows of many tenants (companies): its first
column is ``tenant`` and its primary key starts with it, so two companies may have calls,
cursors or sync keys of the same name. The store is opened for one tenant and every statement it
runs is scoped to that tenant in one place (:mod:`tasks.store.tenancy`); the indexes lead with
``tenant`` for the same reason.

Every datetime column is stored in UTC and read back timezone-aware (:class:`AwareDateTime`),
because SQLite keeps no offset and a naive datetime is a bug waiting for DST.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlmodel import Column, Field, SQLModel

from models.tenant_name import DEFAULT_TENANT

__all__ = ["DEFAULT_TENANT"]


class AwareDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _dt(*, nullable: bool = True) -> Column[datetime]:
    return Column(AwareDateTime(), nullable=nullable)


class TenantRow(SQLModel):
    """The ``tenant`` column every state table starts with (part of its primary key). Code never
    sets it: the store's tenant scope fills it in on insert and filters every read and write
    (the empty default is replaced before a row is written)."""

    tenant: str = Field(default="", primary_key=True)


def _ix(table: str, *columns: str) -> Index:
    """An index led by ``tenant``: every query of the store is one tenant's."""
    return Index(f"ix_{table}_{'_'.join(columns)}", "tenant", *columns)


class CallRecord(TenantRow, table=True):
    """One Ringostat call and what became of it."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_work", "tenant", "status", "calldate", "uniqueid"),
        _ix("calls", "reason"),
        _ix("calls", "phone_key"),
        _ix("calls", "started_at"),
    )

    uniqueid: str = Field(primary_key=True)
    status: str = Field()
    reason: str | None = Field(default=None)
    detail: str | None = None
    fingerprint: str
    """Hash of the raw row: a re-read with changed fields (final disposition, recording) differs."""
    raw_json: str
    calldate: str | None = None
    """Ringostat's ``calldate`` text as read (fixed-width local time): the work set is read in
    (``calldate``, ``uniqueid``) order, chunk by chunk, through ``ix_calls_work``."""
    started_at: datetime | None = Field(default=None, sa_column=_dt())
    ended_at: datetime | None = Field(default=None, sa_column=_dt())
    call_type: str | None = None
    direction: str | None = None
    outcome: str | None = None
    disposition: str | None = None
    duration: int | None = None
    billsec: int | None = None
    client_e164: str | None = None
    phone_key: str | None = Field(default=None)
    employee_user_id: str | None = None
    employee_label: str | None = None
    scenario_row: int | None = None
    client_status: str | None = None
    changed_after_sync: str | None = None
    """The fields (comma-separated) Ringostat changed after the call was synced; its records in
    Zoho stay as written."""
    attached_module: str | None = None
    attached_id: str | None = None
    ambiguous: bool = False
    recording_url: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    client_id: str | None = None
    first_seen_at: datetime = Field(sa_column=_dt(nullable=False))
    updated_at: datetime = Field(sa_column=_dt(nullable=False))
    synced_at: datetime | None = Field(default=None, sa_column=_dt())
    attempts: int = 0
    run_id: str | None = None


class WriteRecord(TenantRow, table=True):
    """The write ledger: intent is recorded before the request, the Zoho id after it."""

    __tablename__ = "crm_writes"
    __table_args__ = (
        _ix("crm_writes", "status"),
        _ix("crm_writes", "uniqueid"),
        _ix("crm_writes", "zoho_id"),
    )

    sync_key: str = Field(primary_key=True)
    uniqueid: str = Field()
    module: str
    op: str
    kind: str
    owner_id: str | None = None
    target_id: str | None = None
    """For updates: the record updated."""
    zoho_id: str | None = Field(default=None)
    status: str = Field()
    """``pending`` (intent recorded), ``success``, ``failed`` (Zoho rejected it), ``blocked``."""
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    payload_json: str
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    updated_at: datetime = Field(sa_column=_dt(nullable=False))
    rebuilt: bool | None = None
    """Recorded from Zoho's ``rs_sync_key`` records after the store was lost, not by a write
    of this store: the record's call may come again later in a replayed window."""


class QuarantineRecord(TenantRow, table=True):
    """A call row that could not be processed, kept with its reason until requeued."""

    __tablename__ = "quarantine"
    __table_args__ = (
        _ix("quarantine", "reason"),
        _ix("quarantine", "uniqueid"),
    )

    row_hash: str = Field(primary_key=True)
    uniqueid: str | None = Field(default=None)
    reason: str = Field()
    detail: str
    raw_json: str
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    requeued_at: datetime | None = Field(default=None, sa_column=_dt())


class CursorRecord(TenantRow, table=True):
    """Named positions: the ingest cursor and the CRM index watermarks."""

    __tablename__ = "cursors"

    name: str = Field(primary_key=True)
    position: datetime = Field(sa_column=_dt(nullable=False))
    updated_at: datetime = Field(sa_column=_dt(nullable=False))


class CrmIndexRecord(TenantRow, table=True):
    """The phone index: phone-bearing CRM records, refreshed incrementally by Modified_Time."""

    __tablename__ = "crm_index"
    __table_args__ = (
        _ix("crm_index", "phone_keys"),
        _ix("crm_index", "contact_id"),
        _ix("crm_index", "updated_at"),
    )

    module: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    owner_id: str
    modified_time: datetime = Field(sa_column=_dt(nullable=False))
    phones_json: str = "[]"
    phone_keys: str = Field(default="")
    converted: bool = False
    converted_contact_id: str | None = None
    converted_deal_id: str | None = None
    converted_at: datetime | None = Field(default=None, sa_column=_dt())
    stage: str | None = None
    amount: float | None = None
    closing_date: str | None = None
    contact_id: str | None = Field(default=None)
    name: str | None = None
    lead_status: str | None = None
    utm_json: str = "{}"
    sync_key: str | None = None
    """``rs_sync_key`` of a record callsync created (added later: nullable, see the store)."""
    deleted: bool = False
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(AwareDateTime(), nullable=True, onupdate=_utc_now),
    )
    """When the index row last changed (the reports land only what changed since): set by the
    store's own writes, and by any other update that does not say (``onupdate``)."""


class CrmPhoneKeyRecord(TenantRow, table=True):
    """One phone key of one indexed CRM record: how a chunk of calls finds its candidates
    without reading the whole index (the primary key leads with the phone key)."""

    __tablename__ = "crm_phone_keys"

    phone_key: str = Field(primary_key=True)
    module: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)


class RunRecord(TenantRow, table=True):
    """One sync run: its window and its summary counts."""

    __tablename__ = "runs"

    run_id: str = Field(primary_key=True)
    flow: str
    started_at: datetime = Field(sa_column=_dt(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=_dt())
    window_start: datetime | None = Field(default=None, sa_column=_dt())
    window_end: datetime | None = Field(default=None, sa_column=_dt())
    status: str = "running"
    summary_json: str = "{}"


class OrgCacheRecord(TenantRow, table=True):
    """Zoho org metadata kept between runs (fields, closed stages, business hours, users): read
    again when older than its own limit, so a run every minute does not pay for it every time."""

    __tablename__ = "zoho_cache"

    name: str = Field(primary_key=True)
    value_json: str
    fetched_at: datetime = Field(sa_column=_dt(nullable=False))


class UserRecord(TenantRow, table=True):
    """Zoho users as last seen: the reports show names instead of ids."""

    __tablename__ = "zoho_users"

    id: str = Field(primary_key=True)
    email: str
    full_name: str
    active: bool = True
    role: str | None = None
    api_user: bool | None = None
    """The user callsync's refresh token acts as (its writes are callsync's own)."""


class WebhookEventRecord(TenantRow, table=True):
    """The webhook inbox (SPEC 12): every accepted Ringostat webhook, until it is handled.

    One row per (event, call): a repeated webhook finds its row and changes nothing. ``status``
    is ``pending`` (stored, not handled yet), ``done`` (handled; ``outcome`` says how) or
    ``failed`` (handling failed: the next sync run finishes it).
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        _ix("webhook_inbox", "event"),
        _ix("webhook_inbox", "status"),
        _ix("webhook_inbox", "uniqueid"),
    )

    event_key: str = Field(primary_key=True)
    """``<event>:<uniqueid>``."""
    event: str = Field()
    uniqueid: str = Field()
    row_json: str
    """The event's parameters under the call log's own field names (the token is never kept)."""
    received_at: datetime = Field(sa_column=_dt(nullable=False))
    status: str = Field()
    outcome: str | None = None
    detail: str | None = None
    zoho_id: str | None = None
    attempts: int = 0
    processed_at: datetime | None = Field(default=None, sa_column=_dt())


class TokenRecord(TenantRow, table=True):
    """The Zoho access token every process of one installation shares (SPEC 13).

    ``name`` is a hash of the accounts URL, client id and refresh token, never a secret; the
    token itself is kept encrypted (see :mod:`tasks.zoho.token_store`). ``refresh_owner`` and
    ``refresh_until`` are the lock that lets one process at a time mint a new token.
    """

    __tablename__ = "zoho_tokens"

    name: str = Field(primary_key=True)
    token_enc: str | None = None
    fingerprint: str | None = None
    """SHA-256 of the token: which token Zoho refused, without keeping it in clear."""
    api_domain: str | None = None
    expires_at: datetime | None = Field(default=None, sa_column=_dt())
    """When the token stops being used (a few minutes before Zoho's own expiry)."""
    minted_at: datetime | None = Field(default=None, sa_column=_dt())
    mints: int = 0
    refresh_owner: str | None = None
    refresh_until: datetime | None = Field(default=None, sa_column=_dt())


class LeaseRecord(TenantRow, table=True):
    """A run lease: one sync (backfill, reports) at a time per state store (SPEC 13)."""

    __tablename__ = "run_leases"

    name: str = Field(primary_key=True)
    holder: str | None = None
    label: str | None = None
    """Who holds it, for the operator: ``sync run <id> (pid N on host)``."""
    acquired_at: datetime | None = Field(default=None, sa_column=_dt())
    heartbeat_at: datetime | None = Field(default=None, sa_column=_dt())
    expires_at: datetime | None = Field(default=None, sa_column=_dt())
    holder_host: str | None = None
    """The holder's process (host, pid, start mark): a holder on this host whose process is gone
    is taken over at once instead of at ``expires_at`` (migration 2)."""
    holder_pid: int | None = None
    holder_started: str | None = None


class RotationRecord(TenantRow, table=True):
    """The call-back rotation's turn (``[scenario.rotation]``): who was given the last task.

    Kept between runs so the turn is fair over time; both the log sync and the real-time
    receiver read and advance it (compare-and-swap, see ``tasks.store.rotation``).
    """

    __tablename__ = "rotation_turns"

    name: str = Field(primary_key=True)
    last_user_id: str | None = None
    updated_at: datetime | None = Field(default=None, sa_column=_dt())


class OrgSlotRecord(TenantRow, table=True):
    """One of a Zoho org's concurrency slots (``[zoho] org_max_concurrency`` per tenant): every
    callsync process of the tenant — a sync on any worker, the webhook receiver, a report —
    holds one while a request is in flight, so together they stay within the org's allowance.

    ``until`` bounds a slot whose holder was killed mid-request: it is free again after the
    request's timeout (see ``tasks.store.slots``)."""

    __tablename__ = "zoho_slots"

    slot: int = Field(primary_key=True)
    holder: str | None = None
    until: datetime | None = Field(default=None, sa_column=_dt())


class PhoneClaimRecord(TenantRow, table=True):
    """A new caller's number taken by the path about to create its lead (one lead per number).

    The log sync and the webhook receiver both claim a phone key before they create a lead for
    it; the row goes when that lead's write is answered (in the transaction that records the
    answer and teaches the phone index the lead), or when it expires (its holder died).
    """

    __tablename__ = "phone_claims"
    __table_args__ = (_ix("phone_claims", "lead_key"),)

    phone_key: str = Field(primary_key=True)
    lead_key: str
    """The ``rs_sync_key`` of the lead the holder is creating."""
    uniqueid: str
    owner_id: str
    e164: str
    country_code: int | None = None
    valid: bool = False
    claimed_at: datetime = Field(sa_column=_dt(nullable=False))
    expires_at: datetime = Field(sa_column=_dt(nullable=False))


class CallbackRecord(TenantRow, table=True):
    """A call-back task callsync wrote for a missed call or a voicemail (matrix rows 6–9), and
    what became of it: later missed calls of the client merged into it, the call that reached
    the client and completed it, or a person who completed it in Zoho."""

    __tablename__ = "callbacks"
    __table_args__ = (
        _ix("callbacks", "phone_key"),
        _ix("callbacks", "status"),
        _ix("callbacks", "task_id"),
    )

    task_key: str = Field(primary_key=True)
    """The ``rs_sync_key`` of the task's insert (``<uniqueid>/task``)."""
    uniqueid: str
    """The call that opened it."""
    phone_key: str
    e164: str
    country_code: int | None = None
    valid: bool = False
    task_id: str | None = None
    owner_id: str
    status: str
    """``open``, ``completed`` (by a call or by a person in Zoho), ``gone`` (deleted in Zoho)."""
    calls: int = 1
    """Missed calls and voicemails the task stands for."""
    description: str = ""
    """The task's ``Description`` as callsync last wrote or read it."""
    opened_at: datetime = Field(sa_column=_dt(nullable=False))
    last_call_at: datetime = Field(sa_column=_dt(nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=_dt())
    closed_by: str | None = None
    """The Zoho user who completed it (the employee of the reaching call, or who edited it)."""
    closed_by_name: str | None = None
    closed_call: str | None = None
    """The call that reached the client (None when a person completed it in Zoho)."""
    checked_at: datetime | None = Field(default=None, sa_column=_dt())
    """When its Status was last read from Zoho."""
    updated_at: datetime = Field(sa_column=_dt(nullable=False))
