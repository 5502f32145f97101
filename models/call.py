"""The call: Ringostat's wire row parsed into a typed, timezone-aware domain object.

Parsing lives in :mod:`tasks.calls`; this module only holds the shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Outcome(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True, slots=True)
class Phone:
    """A normalized client number. ``key`` is the last ``match_digits`` digits."""

    raw: str
    e164: str
    key: str
    country_code: int | None
    valid: bool
    """libphonenumber considers the number valid (the country guard only trusts valid numbers)."""

    @property
    def masked(self) -> str:
        """Safe for INFO logs: only the last four digits."""
        return mask_phone(self.e164)


def mask_phone(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"***{digits[-4:]}" if digits else "***"


# Seven digits or more, written the ways a number is (spaces, dashes, brackets between).
_NUMBER = re.compile(r"\+?\d(?:[ \-()]{0,2}\d){6,}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2})?")


def mask_numbers(text: str) -> str:
    """Free text (a vendor's message, the start of an odd answer, a refusal's reason) with every
    phone-like number masked as :func:`mask_phone` does; dates (``2026-03-02 10``) are left."""

    def mask(match: re.Match[str]) -> str:
        found = match.group()
        return found if _DATE_TIME.fullmatch(found) else mask_phone(found)

    return _NUMBER.sub(mask, text)


@dataclass(frozen=True, slots=True)
class Utm:
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None
    client_id: str | None = None

    def items(self) -> list[tuple[str, str]]:
        """Non-empty values as (name, value), names as in :class:`models.settings.UtmFields`."""
        pairs = [
            ("utm_source", self.source),
            ("utm_medium", self.medium),
            ("utm_campaign", self.campaign),
            ("utm_term", self.term),
            ("utm_content", self.content),
            ("client_id", self.client_id),
        ]
        return [(k, v) for k, v in pairs if v]


@dataclass(frozen=True, slots=True)
class Call:
    """One finished client call (SPEC section 2). All datetimes are aware, in UTC."""

    uniqueid: str
    started_at: datetime
    ended_at: datetime
    direction: Direction
    outcome: Outcome
    disposition: str
    """Normalized disposition: upper case, ``+``/``_`` read as spaces (e.g. ``NO ANSWER``)."""
    call_type: str
    client: Phone
    duration: int
    billsec: int
    employee_ids: tuple[str, ...]
    """Identifiers of the employee in lookup order: connected_with, employee_number, SIP login."""
    employee_label: str
    """What a TOP manager should see for an unmapped employee: the SIP/number that took the call."""
    employee_name: str | None = None
    recording_url: str | None = None
    utm: Utm = Utm()
    landing: str | None = None
    referrer: str | None = None
    call_card: str | None = None
    department: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    first_answered_by: str | None = None
    """The employee identifier (SIP login, extension, number) a pickup webhook named as the
    one who answered first; the call log names the last. Set with
    :func:`tasks.calls.with_first_answerers`; None when no pickup was received."""

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return (self.started_at, self.uniqueid)


@dataclass(frozen=True, slots=True)
class Unprocessable:
    """A row that is not turned into a Call: quarantined, skipped or deferred, with a reason code.

    ``status`` is ``quarantined`` (bad data, can be requeued), ``skipped`` (not a client call:
    ``transit_call``, ``internal_call``, ``anonymous_caller``, ``own_number``) or ``deferred``
    (``in_progress``: read again later).
    """

    uniqueid: str | None
    status: str
    reason: str
    detail: str
    raw: Mapping[str, Any] = field(compare=False, repr=False)
    started_at: datetime | None = None
