"""What the store's methods answer, and what the writer tells the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.crm import CrmRecord
from models.plan import CallbackNote, Reason


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Counts of one :meth:`Store.ingest` batch.

    ``quarantined`` counts the rows of this batch that had no ``uniqueid`` (each is kept once in
    the quarantine table, keyed by its hash). ``recording_updates`` lists the already-synced calls
    whose recording URL appeared or changed: their tasks' descriptions need an update.
    ``changed_after_sync`` lists ``(uniqueid, fields)`` of the synced calls re-delivered with
    other :data:`~tasks.store.rows.CONTENT_FIELDS` (``fields`` comma-separated).
    ``refreshed`` lists every already-synced call whose row changed (its stored fields follow the
    call log; its records and status stay).
    """

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    quarantined: int = 0
    quarantined_new: int = 0
    """Of ``quarantined``, the rows seen for the first time (not re-read by the lookback)."""
    recording_updates: tuple[str, ...] = ()
    changed_after_sync: tuple[tuple[str, str], ...] = ()
    refreshed: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.new + self.changed + self.unchanged + self.quarantined


@dataclass(frozen=True, slots=True)
class RequeueResult:
    """``requeued`` calls went back to ``pending``; quarantined rows without a ``uniqueid``
    cannot be requeued (there is no call to reprocess): ``without_call_id`` says how many."""

    requeued: int
    without_call_id: int

    def describe(self) -> str:
        """One line for the command line."""
        text = f"{self.requeued} call(s) back in line for the next sync"
        if self.without_call_id:
            text += (
                f"; {self.without_call_id} quarantined row(s) without a uniqueid cannot be"
                " requeued (fix them at the source)"
            )
        return text


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The result of one ledger write, as :meth:`Store.record_results` takes it."""

    sync_key: str
    status: Literal["success", "failed", "blocked"]
    zoho_id: str | None = None
    code: str | None = None
    message: str | None = None
    learned: CrmRecord | None = None
    """The record a successful insert created, as the phone index keeps it: recorded with the
    result, in one transaction, so the index never misses a record callsync wrote."""
    callback: CallbackNote | None = None
    """What a successful write did to a call-back task (followed in the same transaction)."""

    @classmethod
    def success(
        cls,
        sync_key: str,
        zoho_id: str,
        learned: CrmRecord | None = None,
        callback: CallbackNote | None = None,
    ) -> WriteOutcome:
        return cls(sync_key, "success", zoho_id=zoho_id, learned=learned, callback=callback)

    @classmethod
    def failed(cls, sync_key: str, code: str, message: str) -> WriteOutcome:
        return cls(sync_key, "failed", code=code, message=message)

    @classmethod
    def blocked(cls, sync_key: str, message: str) -> WriteOutcome:
        return cls(sync_key, "blocked", code=Reason.DEPENDENCY_FAILED.value, message=message)


@dataclass(frozen=True, slots=True)
class CallCount:
    """One line of :meth:`Store.call_counts`."""

    status: str
    reason: str | None
    scenario_row: int | None
    count: int


@dataclass(frozen=True, slots=True)
class RebuiltWrite:
    """A record found in Zoho with its ``rs_sync_key``: a write an earlier store made."""

    sync_key: str
    module: str
    zoho_id: str
    kind: str
    owner_id: str | None = None
