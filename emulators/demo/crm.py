"""The demo CRM before any call: Leads, Contacts and Deals of existing clients, in Zoho shapes.

Each existing client is one of: an open Lead; a Contact (some with Deals, open or closed); a
converted Lead with its Contact (and Deal); or, rarely, both an open Lead and a Contact with the
same number (an ambiguous match). Phone numbers are stored in the mixed spellings people type.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from emulators.demo.names import FIRST_NAMES, LAST_NAMES, PRODUCTS
from emulators.demo.people import (
    PL_TWIN_CODES,
    UA_MOBILE_CODES,
    Company,
    IdSource,
    NumberPool,
    Person,
    UaNumber,
)

OPEN_STAGES = (
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Proposal/Price Quote",
    "Negotiation/Review",
)
CLOSED_STAGES = ("Closed Won", "Closed Lost")
LEAD_SOURCES = ("Cold Call", "Advertisement", "Web Download", "Partner", "Online Store")
LEAD_STATUSES = ("Not Contacted", "Attempted to Contact", "Contact in Future", "Contacted")
UTM_SOURCES = (("google", "cpc"), ("facebook", "paid"), ("instagram", "social"))


@dataclass
class Client:
    """A caller known to the CRM, with the kind of records that hold the number."""

    number: UaNumber
    kind: str  # lead | contact | converted | ambiguous
    owner: Person
    weight: float
    """How often this client calls, relative to the others."""


@dataclass
class Crm:
    clients: list[Client] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    foreign_twin: UaNumber | None = None
    """A client whose last nine digits equal a valid Polish mobile (the country-guard case)."""


def _stamp(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def make_crm(
    rng: random.Random,
    ids: IdSource,
    numbers: NumberPool,
    company: Company,
    *,
    client_count: int,
    before: datetime,
    timezone: str,
) -> Crm:
    """``client_count`` existing clients with their records, all modified before ``before``."""
    zone = ZoneInfo(timezone)
    crm = Crm()
    owners = [*company.agents, *company.agents, *company.agents, company.top]
    kinds = ("lead",) * 45 + ("contact",) * 35 + ("converted",) * 15 + ("ambiguous",) * 5

    def moment(days_back_max: int) -> datetime:
        return before - timedelta(seconds=rng.randrange(3600, days_back_max * 86400))

    for index in range(client_count):
        # The first client always gets a Polish look-alike caller later on.
        number = numbers.mobile(PL_TWIN_CODES if index == 0 else UA_MOBILE_CODES)
        kind = "contact" if index == 0 else rng.choice(kinds)
        owner = rng.choice(owners)
        client = Client(number, kind, owner, weight=rng.paretovariate(1.6))
        crm.clients.append(client)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = moment(120)
        modified = max(
            created, min(created + timedelta(days=rng.randrange(30)), _recent(rng, before))
        )
        contact_id: str | None = None
        if kind in ("contact", "converted", "ambiguous"):
            contact_id = ids()
            crm.contacts.append(
                _contact(rng, contact_id, client, first, last, created, modified, zone)
            )
            for _ in range(_deal_count(rng, kind)):
                crm.deals.append(_deal(rng, ids(), contact_id, client, last, created, before, zone))
        if kind in ("lead", "ambiguous", "converted"):
            lead = _lead(rng, ids(), client, first, last, created, modified, zone)
            if kind == "converted":
                deal_ids = [d["id"] for d in crm.deals if d["Contact_Name"]["id"] == contact_id]
                lead.update(
                    {
                        "Converted__s": True,
                        "Converted_Contact": {"id": contact_id},
                        "Converted_Deal": {"id": deal_ids[0]} if deal_ids else None,
                        "Converted_Date_Time": _stamp(modified, zone),
                        "Lead_Status": "Contacted",
                    }
                )
            crm.leads.append(lead)
    crm.foreign_twin = crm.clients[0].number if crm.clients else None
    return crm


def _recent(rng: random.Random, before: datetime) -> datetime:
    """A moment in the last two days before ``before`` (latest edits are spread, not stacked)."""
    return before - timedelta(seconds=rng.randrange(3600, 2 * 86400))


def _deal_count(rng: random.Random, kind: str) -> int:
    if kind == "converted":
        return 1
    return rng.choice((0, 0, 1, 1, 1, 2))


def _phone_fields(
    rng: random.Random, number: UaNumber, slots: tuple[str, ...]
) -> dict[str, str | None]:
    """The client's number in one of ``slots``, sometimes with an unrelated second number."""
    values: dict[str, str | None] = dict.fromkeys(slots)
    values[rng.choice(slots)] = number.crm_format(rng)
    return values


def _lead(
    rng: random.Random,
    record_id: str,
    client: Client,
    first: str,
    last: str,
    created: datetime,
    modified: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    lead: dict[str, Any] = {
        "id": record_id,
        "Owner": {"id": client.owner.id},
        "First_Name": first,
        "Last_Name": last,
        "Email": f"{first.lower()}.{last.lower()}{rng.randrange(100)}@mail.example",
        "Lead_Source": rng.choice(LEAD_SOURCES),
        "Lead_Status": rng.choice(LEAD_STATUSES),
        "Converted__s": False,
        "Description": f"Interested in: {rng.choice(PRODUCTS)}",
        "Created_Time": _stamp(created, zone),
        "Modified_Time": _stamp(modified, zone),
        **_phone_fields(rng, client.number, ("Phone", "Mobile")),
    }
    if rng.random() < 0.3:
        # An earlier attribution: first-touch UTM policy must keep it.
        source, medium = rng.choice(UTM_SOURCES)
        lead.update({"rs_utm_source": source, "rs_utm_medium": medium})
    return lead


def _contact(
    rng: random.Random,
    record_id: str,
    client: Client,
    first: str,
    last: str,
    created: datetime,
    modified: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    return {
        "id": record_id,
        "Owner": {"id": client.owner.id},
        "First_Name": first,
        "Last_Name": last,
        "Email": f"{first.lower()}{last.lower()}{rng.randrange(100)}@mail.example",
        "Created_Time": _stamp(created, zone),
        "Modified_Time": _stamp(modified, zone),
        **_phone_fields(rng, client.number, ("Phone", "Mobile", "Home_Phone", "Other_Phone")),
    }


def _deal(
    rng: random.Random,
    record_id: str,
    contact_id: str,
    client: Client,
    last: str,
    created: datetime,
    before: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    closed = rng.random() < 0.4
    stage = rng.choice(CLOSED_STAGES) if closed else rng.choice(OPEN_STAGES)
    deal_created = min(created + timedelta(days=rng.randrange(0, 20)), before - timedelta(hours=2))
    modified = max(
        deal_created, min(deal_created + timedelta(days=rng.randrange(40)), _recent(rng, before))
    )
    closing: date = (deal_created + timedelta(days=rng.randrange(7, 60))).date()
    return {
        "id": record_id,
        "Owner": {"id": client.owner.id},
        "Deal_Name": f"{rng.choice(PRODUCTS)} for {last}",
        "Stage": stage,
        "Contact_Name": {"id": contact_id},
        "Closing_Date": closing.isoformat(),
        "Amount": float(rng.randrange(80, 2000) * 100),
        "Created_Time": _stamp(deal_created, zone),
        "Modified_Time": _stamp(modified, zone),
    }
