"""The :class:`Store`: one object over the state database, composed of one mixin per concern."""

from __future__ import annotations

from tasks.store.callbacks import CallbacksMixin
from tasks.store.calls import CallsMixin
from tasks.store.claims import ClaimsMixin
from tasks.store.inbox import InboxMixin
from tasks.store.ledger import LedgerMixin
from tasks.store.rotation import RotationMixin
from tasks.store.shared import SharedMixin
from tasks.store.slots import SlotsMixin
from tasks.store.state import StateMixin


class Store(
    CallsMixin,
    LedgerMixin,
    StateMixin,
    SharedMixin,
    InboxMixin,
    RotationMixin,
    ClaimsMixin,
    CallbacksMixin,
    SlotsMixin,
):
    """callsync's state: calls and their statuses, quarantine, the write ledger, cursors, the
    phone index, runs, the shared Zoho token and run leases, the webhook inbox, the call-back
    rotation's turn, the phone claims of leads being created, the call-back tasks, the Zoho org's
    concurrency slots, in any SQLAlchemy database (SQLite file by default).

    ``Store(url, tenant=..., clock=...)`` opens the database (creating or upgrading its tables)
    for one tenant: every method reads and writes that tenant's rows only (``default``: the one
    company of a single-config installation; see :mod:`tasks.store.tenancy`). Each public method is
    one transaction sized for a batch (one ingest page, one run's plans), never one call.
    """
