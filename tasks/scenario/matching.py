"""Finding the client of a call in the CRM (SPEC section 5). Pure.

Candidates are the records whose phone key equals the call's and that pass the country guard
(:func:`tasks.phones.same_client`). Among them, in Ringostat's "smart forwarding" order:

1. an unconverted Lead, most recently modified first (a lead planned earlier in this run for the
   same client counts, as the most recent one);
2. an open Deal of a matching Contact, most recently modified: open unless its Stage is one the
   org counts as closed won or closed lost (:attr:`CrmSnapshot.closed_stages`, from Zoho's stage
   metadata: the defaults ``Closed Won``, ``Closed Lost``, ``Closed-Lost to Competition`` and any
   custom closed stage);
3. a matching Contact, most recently modified.

Ties on ``Modified_Time`` are broken by record id, so the choice is deterministic. Converted
leads are history and never taken.

A record the call created itself (its ``rs_sync_key`` is one of the call's own keys, in the CRM or
in the write ledger) is never a candidate, nor the contact a manager converted such a lead into:
SPEC 12 — a lead written before a crash, or at pickup by the real-time receiver, must not turn
its own call's caller into an "existing" client. The call's own lead is kept aside
(:attr:`ClientMatch.own_lead`) so that the call reuses it instead of creating another. The match is *ambiguous* when the call could belong to more
than one client record: more than one (unconverted lead or contact), or more than one open deal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from models.call import Call, Phone
from models.crm import CrmRecord, CrmSnapshot
from models.plan import Attachment
from tasks.phones import same_client


@dataclass(frozen=True, slots=True)
class PlannedLead:
    """A lead planned for an earlier call of this run, not yet in Zoho."""

    phone: Phone
    sync_key: str
    owner_id: str


@dataclass(frozen=True, slots=True)
class ClientMatch:
    attachment: Attachment | None
    record: CrmRecord | None
    """The CRM record taken (None for a new client or a lead planned in this run)."""
    leads: tuple[CrmRecord, ...]
    contacts: tuple[CrmRecord, ...]
    open_deals: tuple[CrmRecord, ...]
    planned: PlannedLead | None
    ambiguous: bool
    own_lead: CrmRecord | None = None
    """The lead this call itself created earlier (a crashed run, the real-time receiver)."""

    @property
    def is_new(self) -> bool:
        return self.attachment is None


def _newest_first(records: Iterable[CrmRecord]) -> tuple[CrmRecord, ...]:
    by_id = sorted(records, key=lambda r: r.id)
    return tuple(sorted(by_id, key=lambda r: r.modified_time, reverse=True))


def _matches(call_phone: Phone, record: CrmRecord, strict: bool) -> bool:
    return any(
        p.key == call_phone.key and same_client(call_phone, p, strict_country=strict)
        for p in record.phones
    )


def find_client(
    call: Call,
    crm: CrmSnapshot,
    planned: Mapping[str, Sequence[PlannedLead]],
    *,
    strict_country: bool,
) -> ClientMatch:
    """The record the call is attached to, with everything that matched."""
    phone = call.client
    hits = [r for r in crm.by_key.get(phone.key, ()) if _matches(phone, r, strict_country)]
    if crm.rebuilt_creators:
        when = str(call.raw.get("calldate") or "")
        hits = [r for r in hits if not crm.made_later(r, when, call.uniqueid)]
    own = [r for r in hits if crm.created_by(r, call.uniqueid)]
    if own:
        gone = {(r.module, r.id) for r in own}
        gone |= {("Contacts", r.converted_contact_id) for r in own if r.converted_contact_id}
        hits = [r for r in hits if (r.module, r.id) not in gone]
    leads = _newest_first(r for r in hits if r.module == "Leads" and not r.converted)
    contacts = _newest_first(r for r in hits if r.module == "Contacts")
    open_deals = _newest_first(
        d for c in contacts for d in crm.deals_by_contact.get(c.id, ()) if crm.is_open_deal(d)
    )
    planned_lead = next(
        (
            p
            for p in planned.get(phone.key, ())
            if same_client(phone, p.phone, strict_country=strict_country)
        ),
        None,
    )
    lead_count = len(leads) + (1 if planned_lead is not None else 0)
    ambiguous = lead_count + len(contacts) > 1 or len(open_deals) > 1

    attachment: Attachment | None = None
    record: CrmRecord | None = None
    if planned_lead is not None:
        attachment = Attachment(
            module="Leads",
            id=None,
            owner_id=planned_lead.owner_id,
            planned_key=planned_lead.sync_key,
        )
    elif leads:
        record = leads[0]
        attachment = Attachment(module="Leads", id=record.id, owner_id=record.owner_id)
    elif open_deals:
        record = open_deals[0]
        attachment = Attachment(
            module="Deals", id=record.id, owner_id=record.owner_id, contact_id=record.contact_id
        )
    elif contacts:
        record = contacts[0]
        attachment = Attachment(module="Contacts", id=record.id, owner_id=record.owner_id)
    return ClientMatch(
        attachment=attachment,
        record=record,
        leads=leads,
        contacts=contacts,
        open_deals=open_deals,
        planned=planned_lead,
        ambiguous=ambiguous,
        own_lead=next((r for r in own if r.module == "Leads"), None),
    )


def utm_targets(match: ClientMatch, mode: str) -> tuple[CrmRecord, ...]:
    """The records an enrich mode writes the call's UTM onto (SPEC section 8).

    ``enrich_leads``: the matching Lead the call is attached to. ``enrich_contacts_deals``: the
    matching Contact and its open Deal — the Deal the call is attached to and that Deal's
    Contact, else the most recent matching Contact and its most recent open Deal. A lead planned
    in this run already carries the UTM of its own call and is not updated.
    """
    if mode == "enrich_leads":
        if match.record is not None and match.record.module == "Leads":
            return (match.record,)
        return ()
    if mode != "enrich_contacts_deals" or not match.contacts:
        return ()
    if match.record is not None and match.record.module == "Deals":
        deal = match.record
        contact = next((c for c in match.contacts if c.id == deal.contact_id), match.contacts[0])
    else:
        contact = match.contacts[0]
        newest = next((d for d in match.open_deals if d.contact_id == contact.id), None)
        return (contact,) if newest is None else (contact, newest)
    return (contact, deal)
