"""Planned Zoho writes: what the scenario planner decides, before anything touches the network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from models.call import Phone

WriteModule = Literal["Leads", "Contacts", "Deals", "Tasks", "Calls"]
WriteOp = Literal["insert", "update"]


class CallStatus(StrEnum):
    """Per-call status in the state store (SPEC section 9)."""

    PENDING = "pending"
    DEFERRED = "deferred"
    SYNCED = "synced"
    SKIPPED = "skipped"
    QUARANTINED = "quarantined"
    FAILED = "failed"


class PlanStatus(StrEnum):
    PLANNED = "planned"
    SKIPPED = "skipped"
    DEFERRED = "deferred"


class Reason(StrEnum):
    """Stable reason codes (SPEC sections 2, 3, 6, 8, 10)."""

    MISSING_CALL_ID = "missing_call_id"
    BAD_CALLDATE = "bad_calldate"
    UNKNOWN_CALL_TYPE = "unknown_call_type"
    UNKNOWN_DISPOSITION = "unknown_disposition"
    NO_CLIENT_NUMBER = "no_client_number"
    INTERNAL_CALL = "internal_call"
    ANONYMOUS_CALLER = "anonymous_caller"
    OWN_NUMBER = "own_number"
    TRANSIT_CALL = "transit_call"
    IN_PROGRESS = "in_progress"
    OUTBOUND_NO_ENTITY = "outbound_no_entity"
    OUTBOUND_NOT_ANSWERED = "outbound_not_answered"
    ENRICH_NO_ENTITY = "enrich_no_entity"
    ENRICH_WAITING = "enrich_waiting"
    MATRIX_SKIP = "matrix_skip"
    DEPENDENCY_FAILED = "dependency_failed"
    LEAD_IN_PROGRESS = "lead_in_progress"
    """Another path is creating the lead of this new number right now: the call waits for it."""


CallbackAction = Literal["open", "merge", "complete", "text"]


@dataclass(frozen=True, slots=True)
class CallbackNote:
    """What a write does to a client's call-back task, for the state store to follow when Zoho
    accepted it (in the same transaction as the ledger's answer).

    ``open``: the insert of a new call-back task (rows 6–9); ``merge``: a further missed call or
    voicemail appended to the open one; ``complete``: the client was reached, the task is
    ``Completed``; ``text``: only its description changed (a late recording).
    """

    action: CallbackAction
    task_key: str
    """The ``rs_sync_key`` of the call-back task's insert."""
    phone: Phone
    uniqueid: str
    """The call this write belongs to."""
    at: datetime
    """That call's start."""
    description: str
    """The task's ``Description`` once the write is applied."""
    owner_id: str
    by_user_id: str | None = None
    """``complete``: the employee who reached the client (None when unmapped)."""
    by_name: str | None = None
    reached_call: str | None = None
    """``open`` of a task completed at once (the client was reached after this missed call,
    and that call was handled first): the reaching call and when it started."""
    reached_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One record to write to Zoho.

    ``sync_key`` is the value of ``rs_sync_key`` (``<uniqueid>/<slot>``) and the ledger key.
    ``links`` maps a lookup field (``What_Id``, ``Who_Id``) to the sync key of a *planned* lead
    whose Zoho id is not known yet; the writer fills ``{"id": <zoho id>}`` once that lead exists.
    For ``op == "update"``, ``record_id`` names the existing record (or ``links["id"]`` the sync key
    of a record inserted earlier in the same run whose Zoho id is not known yet); on an ``insert``
    it names the
    record that already carries this sync key in Zoho (written by this call before a crash, or by
    the real-time receiver): the writer then records it as done without sending anything.
    """

    sync_key: str
    module: WriteModule
    op: WriteOp
    fields: Mapping[str, Any]
    owner_id: str
    record_id: str | None = None
    links: Mapping[str, str] = field(default_factory=dict)
    kind: str = ""
    """What the write is for: ``lead``, ``log_task``, ``open_task``, ``call``, ``utm``, ..."""
    due_at: datetime | None = None
    """Deadline of an open task (aware), for the assignment expectations."""
    callback: CallbackNote | None = None
    """Set on the writes that open, extend or complete a call-back task."""

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.links.values())))


@dataclass(frozen=True, slots=True)
class RotationTurn:
    """Where the call-back rotation stands: the Zoho user who was given the last task.

    The planner takes it in and hands the new one back; the caller keeps it in the state store
    between runs, so the turn is fair over time. Kept as a user rather than a position, so
    adding or removing someone in ``[scenario.rotation] employees`` does not shift the turn.
    """

    last_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """The CRM record a call is attached to (SPEC section 5)."""

    module: Literal["Leads", "Contacts", "Deals"]
    id: str | None
    """None for a lead planned in this run (see ``planned_key``)."""
    owner_id: str
    contact_id: str | None = None
    planned_key: str | None = None


@dataclass(frozen=True, slots=True)
class CallPlan:
    """The planner's decision for one call."""

    uniqueid: str
    status: PlanStatus
    row: int | None
    reason: str | None
    client_status: Literal["new", "existing"] | None
    attachment: Attachment | None
    ambiguous: bool
    employee_user_id: str | None
    writes: tuple[PlannedWrite, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``callsync plan`` output shape (one JSON object per call)."""
        return {
            "uniqueid": self.uniqueid,
            "row": self.row,
            "status": self.status.value,
            "reason": self.reason,
            "client_status": self.client_status,
            "ambiguous": self.ambiguous,
            "attached_to": None
            if self.attachment is None
            else {
                "module": self.attachment.module,
                "id": self.attachment.id,
                "planned": self.attachment.planned_key,
            },
            "writes": [
                {
                    "module": w.module,
                    "op": w.op,
                    "rs_sync_key": w.sync_key,
                    "kind": w.kind,
                    "record_id": w.record_id,
                    "links": dict(w.links),
                    "fields": dict(w.fields),
                }
                for w in self.writes
            ],
        }
