"""What callsync knows of the CRM: users and the phone-bearing records (a snapshot)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Literal, TypeVar

from models.call import Phone
from models.sync_key import belongs_to

CrmModule = Literal["Leads", "Contacts", "Deals"]
ZOHO_DEFAULT_CLOSED_STAGES = frozenset(
    {"Closed Won", "Closed Lost", "Closed-Lost to Competition", "Closed Lost to Competition"}
)
"""The closed (won or lost) Deal stages of a new Zoho org. Zoho shows the third as
"Closed-Lost to Competition" and stores it as "Closed Lost to Competition": both are listed.
An org's own closed stages come from its fields metadata (``ZohoClient.deal_closed_stages``)."""


def stage_key(stage: str) -> str:
    """How stage names are compared: case and surrounding or repeated spaces do not matter."""
    return " ".join(stage.split()).casefold()


@dataclass(frozen=True, slots=True)
class ZohoUser:
    id: str
    email: str
    full_name: str
    active: bool = True
    phone: str | None = None
    mobile: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """A Lead, Contact or Deal as the phone index keeps it.

    Deals carry no phones of their own: ``contact_id`` links them to a Contact, whose phones match.
    ``utm`` holds the record's current UTM field values (by Zoho API name) for the UTM policy.
    """

    module: CrmModule
    id: str
    owner_id: str
    modified_time: datetime
    phones: tuple[Phone, ...] = ()
    converted: bool = False
    stage: str | None = None
    contact_id: str | None = None
    name: str | None = None
    utm: Mapping[str, str] = field(default_factory=dict, compare=False)
    # What happened to the record, for the conversion reports (not used for matching):
    converted_contact_id: str | None = None
    converted_deal_id: str | None = None
    converted_at: datetime | None = None
    lead_status: str | None = None
    amount: float | None = None
    closing_date: str | None = None
    sync_key: str | None = None
    """The record's ``rs_sync_key`` when callsync (or its real-time receiver) created it."""

    @property
    def is_open_deal(self) -> bool:
        """Open by Zoho's *default* stages; matching asks :meth:`CrmSnapshot.is_open_deal`,
        which knows the org's own closed stages."""
        return self.module == "Deals" and not _closed(self.stage, _DEFAULT_CLOSED_KEYS)


_DEFAULT_CLOSED_KEYS = frozenset(stage_key(s) for s in ZOHO_DEFAULT_CLOSED_STAGES)


def _closed(stage: str | None, closed_keys: frozenset[str]) -> bool:
    return stage is not None and stage_key(stage) in closed_keys


@dataclass(frozen=True, slots=True)
class ClaimedLead:
    """A lead another call is creating right now for a new number: its phone key is claimed in
    the state store (by the log sync or the webhook receiver) until that lead is written. A call
    from the same number attaches to that lead instead of creating a second one."""

    phone: Phone
    sync_key: str
    owner_id: str


@dataclass(frozen=True, slots=True)
class OpenCallback:
    """A call-back task callsync wrote for a client's missed call or voicemail (matrix rows
    6–9) that nobody has completed yet, as the state store (or this run's planning) knows it."""

    phone: Phone
    task_key: str
    """The ``rs_sync_key`` of the task's insert."""
    task_id: str | None
    """Its Zoho id; None while the insert is planned in this run and not written yet."""
    owner_id: str
    description: str
    """The task's ``Description`` as it stands (later calls append their line to it)."""
    calls: int
    """Missed calls and voicemails it stands for so far."""
    opened_at: datetime
    """The start of the call that opened it (a call before it cannot complete it)."""


@dataclass(frozen=True, slots=True)
class ReachedCall:
    """An answered call with a client (either direction) that callsync has already handled: a
    missed call from before it, handled only now (a webhook lost, the paths out of order), gets
    its call-back completed at once."""

    phone: Phone
    uniqueid: str
    started_at: datetime
    employee_id: str | None
    employee_label: str | None


_Keyed = TypeVar("_Keyed", ClaimedLead, OpenCallback, ReachedCall)


def _by_phone_key(items: Iterable[_Keyed]) -> dict[str, tuple[_Keyed, ...]]:
    grouped: defaultdict[str, list[_Keyed]] = defaultdict(list)
    for item in items:
        grouped[item.phone.key].append(item)
    return {k: tuple(v) for k, v in grouped.items()}


@dataclass(frozen=True)
class CrmSnapshot:
    """Users and records, indexed by phone key. Build with :meth:`build`."""

    users: tuple[ZohoUser, ...]
    records: tuple[CrmRecord, ...]
    by_key: Mapping[str, tuple[CrmRecord, ...]] = field(repr=False)
    deals_by_contact: Mapping[str, tuple[CrmRecord, ...]] = field(repr=False)
    ledger_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Zoho id → ``rs_sync_key`` of the records the write ledger says callsync created: they
    count as created by their call even when the CRM copy shows no key (an index row kept from
    before the key was indexed, an org whose field is named differently)."""
    closed_stages: frozenset[str] = ZOHO_DEFAULT_CLOSED_STAGES
    """The Deal stages the org counts as closed (won or lost), from Zoho's stage metadata; a
    Deal in one of them is history, never the record a call is attached to."""
    rebuilt_creators: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    """Zoho id → (``calldate``, uniqueid) of the call that created the record, for records
    known from a ledger rebuilt after the store was lost: a replayed call that came before its
    creator did not see it (see :meth:`made_later`)."""
    claimed: Mapping[str, tuple[ClaimedLead, ...]] = field(default_factory=dict, repr=False)
    """Leads being created right now, by phone key (:class:`ClaimedLead`)."""
    callbacks: Mapping[str, tuple[OpenCallback, ...]] = field(default_factory=dict, repr=False)
    """Open call-back tasks, by phone key (:class:`OpenCallback`)."""
    reached: Mapping[str, tuple[ReachedCall, ...]] = field(default_factory=dict, repr=False)
    """Answered calls already handled, by phone key, oldest first (:class:`ReachedCall`)."""

    @classmethod
    def build(
        cls,
        users: Iterable[ZohoUser],
        records: Iterable[CrmRecord],
        ledger_keys: Mapping[str, str] | None = None,
        *,
        closed_stages: Iterable[str] | None = None,
        rebuilt_creators: Mapping[str, tuple[str, str]] | None = None,
        claimed: Iterable[ClaimedLead] = (),
        callbacks: Iterable[OpenCallback] = (),
        reached: Iterable[ReachedCall] = (),
    ) -> CrmSnapshot:
        """``closed_stages``: the org's closed Deal stages (``ZohoClient.deal_closed_stages``);
        None keeps Zoho's defaults. ``claimed``: leads other calls are creating; ``callbacks``:
        the open call-back tasks of the callers."""
        recs = tuple(records)
        by_key: defaultdict[str, list[CrmRecord]] = defaultdict(list)
        deals: defaultdict[str, list[CrmRecord]] = defaultdict(list)
        for rec in recs:
            if rec.module == "Deals":
                if rec.contact_id:
                    deals[rec.contact_id].append(rec)
                continue
            for key in {p.key for p in rec.phones}:
                by_key[key].append(rec)
        return cls(
            users=tuple(users),
            records=recs,
            by_key={k: tuple(v) for k, v in by_key.items()},
            deals_by_contact={k: tuple(v) for k, v in deals.items()},
            ledger_keys=dict(ledger_keys or {}),
            closed_stages=(
                ZOHO_DEFAULT_CLOSED_STAGES if closed_stages is None else frozenset(closed_stages)
            ),
            rebuilt_creators=dict(rebuilt_creators or {}),
            claimed=_by_phone_key(claimed),
            callbacks=_by_phone_key(callbacks),
            reached=_by_phone_key(sorted(reached, key=lambda r: (r.started_at, r.uniqueid))),
        )

    def made_later(self, record: CrmRecord, calldate: str, uniqueid: str) -> bool:
        """Whether ``record`` was created by a call that comes after this one in the work order
        (calldate, uniqueid), as far as a ledger rebuilt from Zoho tells: replaying a window
        after the store was lost, such a record did not exist when this call was first handled
        — it must not turn the caller into an existing client now."""
        creator = self.rebuilt_creators.get(record.id)
        return creator is not None and creator > (calldate, uniqueid)

    def is_open_deal(self, record: CrmRecord) -> bool:
        """A Deal whose stage the org does not count as closed (won or lost)."""
        return record.module == "Deals" and not _closed(record.stage, self._closed_keys)

    @cached_property
    def _closed_keys(self) -> frozenset[str]:
        return frozenset(stage_key(s) for s in self.closed_stages)

    def sync_key_of(self, record: CrmRecord) -> str | None:
        """The record's ``rs_sync_key``: its own, else the one the ledger wrote it with."""
        return record.sync_key or self.ledger_keys.get(record.id)

    def created_by(self, record: CrmRecord, uniqueid: str) -> bool:
        """Whether the call ``uniqueid`` created ``record`` itself (SPEC 12: such a record never
        makes the call's caller "existing")."""
        return belongs_to(self.sync_key_of(record), uniqueid)

    def user(self, ident: str) -> ZohoUser | None:
        """A user by Zoho id or email (case-insensitive)."""
        low = ident.strip().lower()
        for u in self.users:
            if u.id == ident or u.email.lower() == low:
                return u
        return None
