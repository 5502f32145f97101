"""The state store (SPEC sections 9 and 10): what callsync knows between runs.

Per call its raw row, fingerprint and status (``pending``, ``deferred``, ``synced``, ``skipped``,
``quarantined``, ``failed``); per planned write its sync key, Zoho id and status (the ledger);
quarantined rows with their reason; cursors; the persisted phone index; runs; the webhook inbox;
the phone claims of leads being created (one lead per number across the two paths); the
call-back tasks and how each ended.
Plain SQLModel over SQLAlchemy, no Prefect: the flows wrap these methods in tasks.
"""

from tasks.store.results import (
    CallCount,
    IngestResult,
    RebuiltWrite,
    RequeueResult,
    WriteOutcome,
)
from tasks.store.rows import fingerprint
from tasks.store.store import Store

__all__ = [
    "CallCount",
    "IngestResult",
    "RebuiltWrite",
    "RequeueResult",
    "Store",
    "WriteOutcome",
    "fingerprint",
]
