"""The demo company: Zoho users and roles, the employee map, tracking lines, phone numbers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from emulators.demo.names import FIRST_NAMES, LAST_NAMES
from emulators.zoho.state import CEO_ROLE_ID

ID_PREFIX = 5843104000000000000
"""Zoho ids of one org share a prefix. Seeded ids stay below 5843104000000500001, where the Zoho
emulator starts numbering the records it creates, so the two never collide."""
ID_FIRST = ID_PREFIX + 100001
ID_LAST = ID_PREFIX + 499999

UA_MOBILE_CODES = ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99")
# UA operators whose 9-digit national number is also a valid Polish mobile (+48 50x/66x/73x):
# used for the country-guard look-alike caller.
PL_TWIN_CODES = ("50", "66", "73")
DOMAIN = "demox.com"
"""Zoho's OpenAPI file constrains user emails to ``[a-z0-9]{9}@[a-z0-9]{5}.com``: a made-up
five-letter domain keeps the emulator's user answers valid against it."""


class IdSource:
    """Deterministic Zoho-looking ids (19 digits), in the range reserved for seeded data."""

    def __init__(self) -> None:
        self._next = ID_FIRST

    def __call__(self) -> str:
        if self._next > ID_LAST:
            raise ValueError("the demo ran out of seed ids: make the dataset smaller")
        value, self._next = self._next, self._next + 1
        return str(value)


@dataclass(frozen=True)
class UaNumber:
    """A Ukrainian number by its 9 national digits (``501234567``)."""

    national: str

    @property
    def e164(self) -> str:
        return f"+380{self.national}"

    @property
    def digits(self) -> str:
        """How Ringostat usually shows it: ``380501234567``."""
        return f"380{self.national}"

    @property
    def key(self) -> str:
        return self.national[-9:]

    def crm_format(self, rng: random.Random) -> str:
        """One of the spellings people type into a CRM."""
        n = self.national
        style = rng.randrange(6)
        if style == 0:
            return f"+380 ({n[:2]}) {n[2:5]}-{n[5:7]}-{n[7:]}"
        if style == 1:
            return f"0{n[:2]} {n[2:5]} {n[5:]}"
        if style == 2:
            return f"380{n}"
        if style == 3:
            return f"0{n}"
        if style == 4:
            return f"+380{n}"
        return f"+38 0{n[:2]} {n[2:5]} {n[5:7]} {n[7:]}"

    def wire_format(self, rng: random.Random) -> str:
        """How the client number appears in a call row (mostly without the plus)."""
        roll = rng.random()
        if roll < 0.8:
            return self.digits
        if roll < 0.9:
            return self.e164
        return f"0{self.national}"


class NumberPool:
    """Unique numbers: no two share their last nine digits unless made to on purpose."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def reserve(self, national: str) -> UaNumber:
        self._used.add(national[-9:])
        return UaNumber(national)

    def mobile(self, codes: tuple[str, ...] = UA_MOBILE_CODES) -> UaNumber:
        while True:
            national = self._rng.choice(codes) + f"{self._rng.randrange(10**7):07d}"
            if national[-9:] not in self._used:
                return self.reserve(national)

    def landline(self, area: str = "44") -> UaNumber:
        while True:
            national = area + f"{self._rng.randrange(2 * 10**6, 10**7):07d}"
            if national[-9:] not in self._used:
                return self.reserve(national)


@dataclass(frozen=True)
class Person:
    id: str
    first_name: str
    last_name: str
    email: str
    phone: UaNumber
    mobile: UaNumber
    sip: str
    ringostat_id: str
    department: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def sip_identity(self) -> str:
        """The SIP string Ringostat puts in ``caller`` on outbound calls."""
        return f'"{self.full_name}" <{self.sip}>'


@dataclass
class Company:
    top: Person
    agents: list[Person]
    tracking_lines: list[UaNumber]
    roles: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)

    @property
    def everyone(self) -> list[Person]:
        return [self.top, *self.agents]


def _email(first: str, last: str) -> str:
    # Zoho's OpenAPI pattern wants 9+ letters/digits before the "@": no dots.
    local = f"{first}{last}".lower().ljust(9, "0")
    return f"{local}@{DOMAIN}"


def make_company(rng: random.Random, ids: IdSource, numbers: NumberPool, timezone: str) -> Company:
    agent_count = rng.randint(6, 10)
    names = rng.sample(
        [(f, ln) for f in FIRST_NAMES for ln in LAST_NAMES], agent_count + 1
    )  # unique full names
    people: list[Person] = []
    for index, (first, last) in enumerate(names):
        people.append(
            Person(
                id=ids(),
                first_name=first,
                last_name=last,
                email=_email(first, last),
                phone=numbers.landline(),
                mobile=numbers.mobile(),
                sip=f"{first.lower()}_{last.lower()[:4]}",
                ringostat_id=str(1001 + index),
                department="Management"
                if index == 0
                else rng.choice(("Sales", "Sales", "Support")),
            )
        )
    top, agents = people[0], people[1:]
    lines = [numbers.landline() for _ in range(rng.randint(2, 3))]
    company = Company(top=top, agents=agents, tracking_lines=lines)

    # the emulated org already has its top role (CEO); the demo's CEO is that role, so the org
    # keeps one role at the top of its hierarchy
    ceo_role, sales_role = CEO_ROLE_ID, ids()
    admin_profile, standard_profile = ids(), ids()
    company.roles = [
        {"id": ceo_role, "name": "CEO", "display_label": "CEO", "reporting_to": None,
         "share_with_peers": True, "description": "Owner of the company", "admin_user": True},
        {"id": sales_role, "name": "Sales Manager", "display_label": "Sales Manager",
         "reporting_to": {"id": ceo_role, "name": "CEO"}, "share_with_peers": True,
         "description": "Answers and places client calls", "admin_user": False},
    ]  # fmt: skip
    for person in company.everyone:
        is_top = person is top
        company.users.append(
            {
                "id": person.id,
                "email": person.email,
                "full_name": person.full_name,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "phone": person.phone.e164,
                "mobile": person.mobile.e164,
                "status": "active",
                "confirm": True,
                "role": {"name": "CEO", "id": ceo_role}
                if is_top
                else {"name": "Sales Manager", "id": sales_role},
                "profile": {"name": "Administrator", "id": admin_profile}
                if is_top
                else {"name": "Standard", "id": standard_profile},
                "Reporting_To": None
                if is_top
                else {"name": top.full_name, "id": top.id, "email": top.email},
                "time_zone": timezone,
            }
        )
    return company


def employee_entries(company: Company) -> list[dict[str, Any]]:
    """``[[employees]]`` config entries for every agent (the TOP manager takes no calls)."""
    return [
        {
            "zoho_user": agent.email,
            "sip": [agent.sip],
            "numbers": [agent.mobile.e164],
            "ringostat_ids": [agent.ringostat_id],
        }
        for agent in company.agents
    ]
