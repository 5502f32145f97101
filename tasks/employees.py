"""The employee map (SPEC section 4): which Zoho user is the company side of a call. Pure.

Identifiers Ringostat puts on a call (``Call.employee_ids``, in lookup order ``connected_with``,
``employee_number``, then on outbound calls ``caller``; a SIP identity in any form counts by its
login, SPEC 4) are matched against:

1. explicit ``[[employees]]`` entries: SIP logins, Ringostat employee ids and short extensions
   (as text, case-insensitive), phone numbers (by phone key, SPEC 3);
2. when ``scenario.auto_map_users`` is on (**decided**), every active Zoho user's ``phone`` and
   ``mobile`` — by phone key, or as exact text for an extension. An identifier an explicit entry
   already claims is never auto-mapped: explicit entries win.

The first identifier (in lookup order) that maps decides. :attr:`EmployeeMap.problems` lists,
for every run summary: entries naming an unknown or inactive Zoho user (they map nobody, their
calls are unmapped; also in :attr:`EmployeeMap.unknown_entries`, on which ``callsync doctor``
fails, SPEC 4), identifiers claimed by two entries (the first entry keeps it) and phones shared
by two users (not auto-mapped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.call import Call, Phone, mask_phone
from models.crm import ZohoUser
from models.settings import EmployeeEntry, ScenarioSettings
from tasks.calls import employee_ident
from tasks.phones import OwnNumbers, normalize, numbers_in


def find_user(ident: str, users: Sequence[ZohoUser]) -> ZohoUser | None:
    """A Zoho user by id or email (case-insensitive)."""
    text = ident.strip()
    low = text.lower()
    for user in users:
        if user.id == text or (user.email and user.email.lower() == low):
            return user
    return None


@dataclass(frozen=True)
class EmployeeMap:
    """Identifier → Zoho user. Build with :meth:`build`; look up with :meth:`resolve`."""

    by_text: Mapping[str, ZohoUser]
    """SIP logins, Ringostat ids and extensions (lower case) of explicit entries."""
    by_key: Mapping[str, ZohoUser]
    """Phone keys of explicit entries' numbers."""
    auto_by_text: Mapping[str, ZohoUser]
    auto_by_key: Mapping[str, ZohoUser]
    region: str
    match_digits: int
    problems: list[str] = field(default_factory=list)
    unknown_entries: tuple[str, ...] = ()
    """``zoho_user`` of the ``[[employees]]`` entries naming no active Zoho user (SPEC 4)."""
    numbers: OwnNumbers = field(default_factory=OwnNumbers)
    """Every mapped employee's phone (explicit and automatic): never a client (SPEC 3's guard)."""

    @classmethod
    def build(
        cls,
        entries: Sequence[EmployeeEntry],
        users: Sequence[ZohoUser],
        scenario: ScenarioSettings,
    ) -> EmployeeMap:
        region, digits = scenario.default_region, scenario.match_digits
        problems: list[str] = []
        by_text: dict[str, ZohoUser] = {}
        by_key: dict[str, ZohoUser] = {}
        phones: dict[str, Phone] = {}  # phone key -> the number as written (for the guard)

        def claim(table: dict[str, ZohoUser], ident: str, user: ZohoUser, shown: str) -> None:
            owner = table.get(ident)
            if owner is None:
                table[ident] = user
            elif owner.id != user.id:
                problems.append(
                    f"employee identifier {shown} is listed for {owner.email or owner.id} and "
                    f"{user.email or user.id}; the first entry keeps it"
                )

        unknown: list[str] = []
        for entry in entries:
            user = find_user(entry.zoho_user, users)
            if user is None or not user.active:
                what = "no Zoho user" if user is None else "an inactive Zoho user"
                problems.append(
                    f"employee entry {entry.zoho_user!r} names {what} (by id or email): "
                    "its calls are handled as unmapped"
                )
                unknown.append(entry.zoho_user)
                continue
            for sip in entry.sip:
                login = employee_ident(sip)  # "sip:anna_sip@pbx" in the config means anna_sip
                if login:
                    claim(by_text, login.lower(), user, repr(login))
            for rid in entry.ringostat_ids:
                if rid.strip():
                    claim(by_text, rid.strip().lower(), user, repr(rid.strip()))
            for number in entry.numbers:
                phone = normalize(number, region=region, match_digits=digits)
                if phone is not None:
                    claim(by_key, phone.key, user, phone.masked)
                    phones.setdefault(phone.key, phone)
                elif number.strip():
                    claim(by_text, number.strip().lower(), user, repr(number.strip()))

        auto_by_text: dict[str, ZohoUser] = {}
        auto_by_key: dict[str, ZohoUser] = {}
        if scenario.auto_map_users:
            shared_keys: set[str] = set()
            shared_text: set[str] = set()
            for user in users:
                if not user.active:
                    continue
                for user_number in (user.phone, user.mobile):
                    if not user_number or not user_number.strip():
                        continue
                    # Typed by people like CRM phone fields: "+380 50 999 88 77 (work)" counts.
                    found = numbers_in(user_number, region=region, match_digits=digits)
                    idents: list[tuple[Phone | None, str]] = [(p, p.key) for p in found] or [
                        (None, user_number.strip().lower())  # an extension such as "305"
                    ]
                    for phone, ident in idents:
                        table, shared = (
                            (auto_by_key, shared_keys)
                            if phone is not None
                            else (auto_by_text, shared_text)
                        )
                        if ident in (by_key if phone is not None else by_text):
                            continue  # an explicit entry claims it: explicit wins
                        other = table.get(ident)
                        if other is not None and other.id != user.id:
                            shared.add(ident)
                        else:
                            table[ident] = user
                        if phone is not None:
                            phones.setdefault(phone.key, phone)
            for ident in sorted(shared_keys):
                auto_by_key.pop(ident, None)
                problems.append(
                    f"Zoho users share the phone {mask_phone(ident)}; it is not auto-mapped"
                )
            for ident in sorted(shared_text):
                auto_by_text.pop(ident, None)
                problems.append(f"Zoho users share the extension {ident!r}; it is not auto-mapped")

        return cls(
            by_text=by_text,
            by_key=by_key,
            auto_by_text=auto_by_text,
            auto_by_key=auto_by_key,
            region=region,
            match_digits=digits,
            problems=problems,
            unknown_entries=tuple(unknown),
            numbers=OwnNumbers.of(
                (phones[k] for k in {*by_key, *auto_by_key}),
                strict_country=scenario.strict_country_match,
            ),
        )

    def resolve_ident(self, ident: str) -> ZohoUser | None:
        """The user one identifier maps to (explicit entries first, then auto-mapping).

        The identifier may be a SIP identity in any form (``sip:anna_sip@pbx.example``,
        ``"Anna Ivanova" <anna_sip>``): its login is looked up, as a bare login would be.
        """
        text = employee_ident(ident)
        if not text:
            return None
        phone = normalize(text, region=self.region, match_digits=self.match_digits)
        low = text.lower()
        explicit = self.by_text.get(low) or (
            self.by_key.get(phone.key) if phone is not None else None
        )
        if explicit is not None:
            return explicit
        return self.auto_by_text.get(low) or (
            self.auto_by_key.get(phone.key) if phone is not None else None
        )

    def resolve(self, call: Call) -> ZohoUser | None:
        """The mapped employee of a call, or None (unmapped)."""
        for ident in call.employee_ids:
            user = self.resolve_ident(ident)
            if user is not None:
                return user
        return None

    @property
    def phone_keys(self) -> frozenset[str]:
        """Phone keys of every mapped employee (explicit and automatic): never a client."""
        return frozenset(self.by_key) | frozenset(self.auto_by_key)
