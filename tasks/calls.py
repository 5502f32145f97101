"""Ringostat call-log rows → :class:`models.call.Call` or :class:`models.call.Unprocessable`.

Pure (SPEC sections 2, 3 and 10). Each row either becomes a finished client call or an
``Unprocessable`` with a stable reason code. The checks run in this order, the first that
applies decides:

- ``missing_call_id`` (quarantined): no ``uniqueid``;
- ``transit_call`` (skipped): ``call_type`` ``transitin`` / ``transitout``;
- ``unknown_call_type`` (quarantined): any ``call_type`` other than in, callback, out;
- ``bad_calldate`` (quarantined): ``calldate`` missing or not a date-time;
- ``unknown_disposition`` (quarantined): a disposition not in SPEC section 2's table;
- ``in_progress`` (deferred): disposition ``IN PROGRESS`` / ``CALLING``, read again later;
- ``anonymous_caller`` (skipped): an inbound call without a caller id — ``caller`` and
  ``caller_number`` empty or a "hidden number" word (``anonymous``, ``hidden``, ``private``,
  ``restricted``, ``unknown``, ``unavailable``, ``withheld``, also inside a SIP form such as
  ``"Anonymous" <sip:anonymous@anonymous.invalid>``): nobody can be called back;
- ``internal_call`` (skipped): the client side (``caller`` inbound, ``dst`` outbound) is an
  employee: an identifier of an ``[[employees]]`` entry (SIP login, Ringostat id, extension or
  number as written there), a SIP login (``anna_sip``, in any SIP form), or an extension in a SIP
  form (``<sip:201@pbx>``) — a call between two employees' extensions, not a client call;
- ``no_client_number`` (quarantined): what is left without a usable client number (too few
  digits, a bare short number no ``[[employees]]`` entry names, a SIP form around a number);
- ``own_number`` (skipped): the client number is one of the company's own (same phone key and,
  with the country guard on, not of another country: SPEC 3).

Ringostat quirks handled here:

- numbers and ids arrive as JSON strings or ints (``"380501112233"`` or ``380501112233``);
- dispositions arrive with ``+`` or ``_`` for spaces (``NO+ANSWER``, ``no_answer``), any case;
  ``NO-FORWARD`` is also accepted as ``NO FORWARD``/``NO_FORWARD``;
- ``calldate`` is naive local time in ``ringostat.timezone``. DST edges are resolved
  deterministically: a repeated wall time (autumn, e.g. 03:30 on 2025-10-26 in Kyiv) is read as
  the *first* occurrence (summer offset, ``fold=0``); a wall time skipped in spring (03:30 on
  2025-03-30 in Kyiv) is read with the offset in force before the jump, i.e. as if the clock had
  not moved yet (03:30+02:00 = 04:30+03:00). A value that already carries an offset is kept;
- on outbound calls ``caller`` is usually the employee's SIP identity
  (``"Anna Ivanova" <anna_sip>``) and ``dst`` is the client; ``connected_with`` and
  ``employee_number`` may hold a SIP identity in any form too (``sip:anna_sip@pbx.example``):
  the login is the employee identifier (:func:`sip_login`);
- the referrer is spelled ``refferrer`` on the wire;
- the recording link is ``recording``, else ``recording_wav``;
- ``duration``/``billsec`` that are missing or unreadable count as 0, negative ones as 0, and
  anything above a day is clamped to a day (so the call end is always computable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from models.call import Call, Direction, Outcome, Phone, Unprocessable, Utm
from models.plan import Reason
from models.settings import Settings
from tasks.phones import normalize, own_numbers

MAX_CALL_SECONDS = 24 * 60 * 60
QUARANTINED = "quarantined"
SKIPPED = "skipped"
DEFERRED = "deferred"

_DIRECTIONS: Mapping[str, Direction] = {
    "in": Direction.INBOUND,
    "callback": Direction.INBOUND,
    "out": Direction.OUTBOUND,
}
_TRANSIT = frozenset({"transitin", "transitout"})

# SPEC section 2, keyed by the canonical disposition name.
DISPOSITIONS: Mapping[str, Outcome | None] = {
    "ANSWERED": Outcome.ANSWERED,
    "PROPER": Outcome.ANSWERED,
    "REPEATED": Outcome.ANSWERED,
    "VOICEMAIL": Outcome.VOICEMAIL,
    "NO ANSWER": Outcome.MISSED,
    "BUSY": Outcome.MISSED,
    "FAILED": Outcome.MISSED,
    "NO-FORWARD": Outcome.MISSED,
    "WRONG EXTENSION": Outcome.MISSED,
    "NO EXTENSION": Outcome.MISSED,
    "CLIENT NO ANSWER": Outcome.MISSED,
    "DECLINE": Outcome.MISSED,
    "FAILED FORBIDDEN DESTINATION": Outcome.MISSED,
    "IN PROGRESS": None,  # not final: read again on a later run
    "CALLING": None,
}
_SPACES = re.compile(r"[\s+_]+")


def _lookup_form(text: str) -> str:
    return _SPACES.sub(" ", text.replace("-", " ")).strip().upper()


_DISPOSITION_LOOKUP: Mapping[str, str] = {_lookup_form(name): name for name in DISPOSITIONS}
_SIP_IN_BRACKETS = re.compile(r"<\s*(?:sips?:)?([^<>@\s]+)(?:@[^<>]*)?\s*>")
_DATETIME_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")
_SIP_URI = re.compile(r"^sips?:([^@\s]+)", re.IGNORECASE)
_USER_AT_HOST = re.compile(r"^([^@\s<>\"]+)@[^@\s<>\"]+$")
_LOGIN = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
"""A SIP login written bare (``anna_sip``): it starts with a letter, so it is no phone number."""
_SIP_EXTENSION = re.compile(r"\d{1,6}")
"""An extension inside a SIP form (``<sip:201@pbx>``); longer digit runs are trunk numbers."""
HIDDEN_CALLER_WORDS = frozenset(
    {
        "anonymous",
        "anonym",
        "hidden",
        "private",
        "restricted",
        "unknown",
        "unavailable",
        "withheld",
        "null",
        "none",
        "n/a",
        "-",
    }
)
"""What PBXs and Ringostat write where a caller id was withheld (compared in lower case)."""


def canonical_disposition(value: Any) -> str | None:
    """The SPEC name of a disposition (``no+answer`` → ``NO ANSWER``), or None if unknown."""
    text = wire_text(value)
    if text is None:
        return None
    return _DISPOSITION_LOOKUP.get(_lookup_form(text))


def wire_text(value: Any) -> str | None:
    """A wire value as stripped text; ints (Ringostat sends numbers either way) become text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _seconds(value: Any) -> int:
    text = wire_text(value)
    if text is None:
        return 0
    try:
        seconds = int(float(text))
    except (ValueError, OverflowError):
        return 0
    # A call longer than a day is a broken value; clamping keeps the call end computable.
    return min(max(0, seconds), MAX_CALL_SECONDS)


def parse_calldate(value: Any, tz: ZoneInfo) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` in ``tz`` → aware UTC (see the module doc for DST edges)."""
    text = wire_text(value)
    if text is None or not _DATETIME_SHAPE.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # fold=0: first occurrence of a repeated time; pre-transition offset for a skipped one.
        parsed = parsed.replace(tzinfo=tz, fold=0)
    try:
        started = parsed.astimezone(UTC)
        started + timedelta(seconds=MAX_CALL_SECONDS)  # the call end must be representable
    except (OverflowError, ValueError):
        return None
    return started


def sip_login(value: str | None) -> str | None:
    """The login inside a SIP identity, else None.

    Every form Ringostat and PBXs write (SPEC 4): ``"Anna Ivanova" <anna_sip>``,
    ``<sip:anna_sip@pbx>``, ``sip:anna_sip@pbx.example``, ``anna_sip@pbx.example`` → ``anna_sip``.
    A bare login (``anna_sip``) or a number is not a SIP *form*: None (use the text as it is).
    """
    if not value:
        return None
    match = _SIP_IN_BRACKETS.search(value)
    if match:
        return match.group(1)
    text = value.strip()
    match = _SIP_URI.match(text) or _USER_AT_HOST.match(text)
    if match:
        return match.group(1)
    return None


def hidden_caller(value: Any) -> bool:
    """Whether a caller field holds no caller id: empty, or a withheld-number word (bare, quoted
    or as the login of a SIP form)."""
    text = wire_text(value)
    if text is None:
        return True
    words = {text.strip("\"' ").lower(), (sip_login(text) or "").lower()}
    return bool(words & HIDDEN_CALLER_WORDS)


def employee_ident(value: str) -> str:
    """What an employee field identifies: the SIP login of a SIP form, else the text itself."""
    return sip_login(value) or value.strip()


def _employee_ids(row: Mapping[str, Any], direction: Direction) -> tuple[str, ...]:
    # Any field may hold a SIP identity in any form (``sip:anna_sip@pbx``, ``"Anna" <anna_sip>``):
    # its login is the identifier; a bare login or a number is taken as it is.
    names = ["connected_with", "employee_number"]
    if direction is Direction.OUTBOUND:
        names.append("caller")  # on inbound calls caller is the client, never an employee
    ids: list[str] = []
    for name in names:
        value = wire_text(row.get(name))
        if value is not None:
            ids.append(employee_ident(value))
    return tuple(dict.fromkeys(i for i in ids if i))


class _RowParser:
    """Parses rows against one settings object (own-number keys computed once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.ringostat.timezone)
        self.own = own_numbers(settings)
        self.employee_texts = frozenset(
            text.lower()
            for entry in settings.employees
            for text in (
                *(employee_ident(sip) for sip in entry.sip),
                *(rid.strip() for rid in entry.ringostat_ids),
                *(number.strip() for number in entry.numbers),
            )
            if text
        )

    def _is_employee(self, value: Any) -> bool:
        """Whether a client-side value names an employee (see ``internal_call`` above)."""
        text = wire_text(value)
        if text is None or hidden_caller(text):
            return False
        login = sip_login(text)
        ident = login or text
        if ident.lower() in self.employee_texts or _LOGIN.fullmatch(ident):
            return True
        return login is not None and _SIP_EXTENSION.fullmatch(login) is not None

    def _normalize(self, value: Any) -> Phone | None:
        sc = self.settings.scenario
        return normalize(wire_text(value), region=sc.default_region, match_digits=sc.match_digits)

    def parse(self, row: Mapping[str, Any]) -> Call | Unprocessable:
        uniqueid = wire_text(row.get("uniqueid"))
        started = parse_calldate(row.get("calldate"), self.tz)

        def reject(status: str, reason: Reason, detail: str) -> Unprocessable:
            return Unprocessable(
                uniqueid=uniqueid,
                status=status,
                reason=reason.value,
                detail=detail,
                raw=dict(row),
                started_at=started,
            )

        if uniqueid is None:
            return reject(QUARANTINED, Reason.MISSING_CALL_ID, "the row has no uniqueid")
        call_type = (wire_text(row.get("call_type")) or "").lower()
        if call_type in _TRANSIT:
            return reject(
                SKIPPED, Reason.TRANSIT_CALL, f"call_type {call_type!r} is not a client call"
            )
        direction = _DIRECTIONS.get(call_type)
        if direction is None:
            return reject(
                QUARANTINED,
                Reason.UNKNOWN_CALL_TYPE,
                f"call_type {wire_text(row.get('call_type'))!r} is not one of in, callback, out, "
                "transitin, transitout",
            )
        if started is None:
            return reject(
                QUARANTINED,
                Reason.BAD_CALLDATE,
                f"calldate {wire_text(row.get('calldate'))!r} is not 'YYYY-MM-DD HH:MM:SS'",
            )
        raw_disposition = wire_text(row.get("disposition"))
        disposition = canonical_disposition(raw_disposition)
        if disposition is None:
            return reject(
                QUARANTINED,
                Reason.UNKNOWN_DISPOSITION,
                f"disposition {raw_disposition!r} is not in the known list",
            )
        outcome = DISPOSITIONS[disposition]
        if outcome is None:
            return reject(DEFERRED, Reason.IN_PROGRESS, f"disposition {disposition} is not final")

        if direction is Direction.INBOUND:
            client = self._normalize(row.get("caller")) or self._normalize(row.get("caller_number"))
        else:
            client = self._normalize(row.get("dst"))
        if client is None:
            if direction is Direction.INBOUND:
                sides = [row.get("caller"), row.get("caller_number")]
                field = "caller/caller_number"
                if all(hidden_caller(v) for v in sides):
                    return reject(
                        SKIPPED, Reason.ANONYMOUS_CALLER, "the caller's number was withheld"
                    )
            else:
                sides, field = [row.get("dst")], "dst"
            if any(self._is_employee(v) for v in sides):
                return reject(
                    SKIPPED,
                    Reason.INTERNAL_CALL,
                    f"{field} is an employee's extension or SIP login, not a client",
                )
            return reject(
                QUARANTINED,
                Reason.NO_CLIENT_NUMBER,
                f"{field} holds no client phone number (too few digits, or not a number)",
            )
        if self.own.holds(client):
            return reject(
                SKIPPED, Reason.OWN_NUMBER, f"client number {client.masked} is a company number"
            )

        duration = _seconds(row.get("duration"))
        employee_ids = _employee_ids(row, direction)
        return Call(
            uniqueid=uniqueid,
            started_at=started,
            ended_at=started + timedelta(seconds=duration),
            direction=direction,
            outcome=outcome,
            disposition=disposition,
            call_type=call_type,
            client=client,
            duration=duration,
            billsec=_seconds(row.get("billsec")),
            employee_ids=employee_ids,
            employee_label=" / ".join(employee_ids),
            employee_name=wire_text(row.get("employee_fio")),
            recording_url=wire_text(row.get("recording")) or wire_text(row.get("recording_wav")),
            utm=Utm(
                source=wire_text(row.get("utm_source")),
                medium=wire_text(row.get("utm_medium")),
                campaign=wire_text(row.get("utm_campaign")),
                term=wire_text(row.get("utm_term")),
                content=wire_text(row.get("utm_content")),
                client_id=wire_text(row.get("client_id")),
            ),
            landing=wire_text(row.get("landing")),
            referrer=wire_text(row.get("refferrer")) or wire_text(row.get("referrer")),
            call_card=wire_text(row.get("call_card")),
            department=wire_text(row.get("department")),
            raw=dict(row),
        )


def parse_row(row: Mapping[str, Any], settings: Settings) -> Call | Unprocessable:
    """One Ringostat row → a Call, or an Unprocessable with its reason code. Never raises."""
    return _RowParser(settings).parse(row)


def parse_each(rows: Iterable[Mapping[str, Any]], settings: Settings) -> list[Call | Unprocessable]:
    """Parse many rows: one result per row, in input order."""
    parser = _RowParser(settings)
    return [parser.parse(row) for row in rows]


def with_first_answerers(calls: Iterable[Call], first: Mapping[str, str]) -> list[Call]:
    """The calls, each with the employee its pickup webhook named (``first``: uniqueid → the
    pickup's ``connected_with``), for the transfer rule of the planner."""
    return [
        replace(c, first_answered_by=first[c.uniqueid]) if first.get(c.uniqueid) else c
        for c in calls
    ]


def parse_rows(
    rows: Iterable[Mapping[str, Any]], settings: Settings
) -> tuple[list[Call], list[Unprocessable]]:
    """Parse many rows; both lists keep the input order."""
    calls: list[Call] = []
    rejected: list[Unprocessable] = []
    for result in parse_each(rows, settings):
        if isinstance(result, Call):
            calls.append(result)
        else:
            rejected.append(result)
    return calls, rejected
