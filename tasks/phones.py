"""Phone normalization and matching (SPEC section 3). Pure: no I/O, no Prefect.

A client number becomes a :class:`models.call.Phone`: E.164 when libphonenumber can parse it
(region ``scenario.default_region`` when it has no country code), and a *phone key* = the last
``match_digits`` digits, which is how Ringostat itself matches callers to CRM records.

What counts as "no usable client number" (``normalize`` returns ``None``):

- ``None``, empty or blank text, ``anonymous`` / ``unknown`` / any text with letters;
- SIP strings such as ``"Anna Ivanova" <anna_sip>`` or ``sip:anna@pbx`` (on outbound calls
  Ringostat puts the employee's SIP identity in ``caller``);
- fewer digits than ``match_digits`` (short numbers, extensions, voicemail codes like ``*100``
  would otherwise match real clients by suffix);
- more digits than an international number can have (``00`` + 15).

``normalize`` never raises, whatever text it is given.

CRM phone fields are typed by people and may hold words or several numbers
(``067 111 22 99, 050 111 22 98``, ``+380 67 111 22 77 (viber)``, ``tel. 050-111-22-33 ext 5``):
:func:`numbers_in` finds every number in such a value (**decided**, SPEC 3) — a plain number as
``normalize`` reads it, otherwise each number libphonenumber's ``PhoneNumberMatcher`` finds (at
the ``POSSIBLE`` leniency, so that numbers written as Ringostat writes them, without a trunk
prefix, count) and each remaining run of digits long enough to be one (an international number
written without ``+``, which the matcher does not look for). Extensions are not part of a number.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import phonenumbers

from models.call import Phone
from models.settings import Settings

_ASCII_DIGITS = frozenset("0123456789")
# Punctuation people and PBXs put into numbers; anything else means "not a phone number".
_SEPARATORS = frozenset(" +-()./\u00a0\t")
_MAX_DIGITS = 17  # "00" + the 15 digits E.164 allows


def _clean(raw: str) -> str | None:
    """The number's text without a ``tel:`` prefix, or None when it is not a plain number."""
    text = raw.strip()
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    if not text:
        return None
    for ch in text:
        if ch not in _ASCII_DIGITS and ch not in _SEPARATORS and not ch.isspace():
            # Letters, '<', '@', '#', '*', ';', non-ASCII digits: SIP identities, "anonymous",
            # extensions and service codes. None of them is a client's phone number.
            return None
    return text


def normalize(raw: str | None, *, region: str, match_digits: int) -> Phone | None:
    """Normalize one number, or None when it has no usable phone key (see the module doc)."""
    if raw is None:
        return None
    if not isinstance(raw, str):  # defensive: callers should pass text (ints are coerced first)
        raw = str(raw)
    return _normalized(raw, region, match_digits)


@functools.lru_cache(maxsize=65_536)
def _normalized(raw: str, region: str, match_digits: int) -> Phone | None:
    """:func:`normalize`, kept per distinct input: libphonenumber's parse is most of a chunk's
    parsing time, and a day's calls repeat callers, lines and employees' numbers. A
    :class:`Phone` is immutable, so sharing one is safe."""
    text = _clean(raw)
    if text is None:
        return None
    digits = "".join(ch for ch in text if ch in _ASCII_DIGITS)
    if len(digits) < match_digits or len(digits) > _MAX_DIGITS:
        return None

    e164: str | None = None
    country_code: int | None = None
    valid = False
    # Parse the digits alone (with the leading '+', if any): the separators carry nothing, and a
    # stray '+' inside ("0100000+0") must not make the number read differently the second time.
    canonical = "+" + digits if text.startswith("+") else digits
    try:
        parsed = phonenumbers.parse(canonical, region.upper())
    except phonenumbers.NumberParseException:
        parsed = None
    except Exception:  # libphonenumber on hostile input: treat as unparseable, never raise
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        country_code = parsed.country_code
        valid = bool(phonenumbers.is_valid_number(parsed))
    if not valid and not text.startswith("+") and not digits.startswith("0"):
        # Ringostat writes international numbers without the '+' ("48733151952"): a number that
        # is not valid in the default region but valid as international is taken as such.
        try:
            intl = phonenumbers.parse("+" + digits, None)
        except Exception:
            intl = None
        if intl is not None and phonenumbers.is_valid_number(intl):
            e164 = phonenumbers.format_number(intl, phonenumbers.PhoneNumberFormat.E164)
            country_code, valid = intl.country_code, True
    if e164 is None:
        # Not parseable as a possible number: keep the digits (with '+' when the caller gave an
        # international prefix) so the suffix match still works, as Ringostat's own does.
        if text.startswith("+"):
            e164 = "+" + digits
        elif digits.startswith("00"):
            e164 = "+" + digits[2:]
        else:
            e164 = digits
    key_source = "".join(ch for ch in e164 if ch in _ASCII_DIGITS)
    if len(key_source) < match_digits:
        return None
    return Phone(
        raw=raw.strip(),
        e164=e164,
        key=key_source[-match_digits:],
        country_code=country_code,
        valid=valid,
    )


_MAX_TEXT = 500  # a phone field longer than this is not read further (Zoho's Phone max is 30)
_DIGIT_RUN = re.compile(r"\+?\d[\d \-().\u00a0]*\d")
_NUMBER_PART = re.compile(r"^[\d \-+().\u00a0/]*")


def numbers_in(raw: str | None, *, region: str, match_digits: int) -> tuple[Phone, ...]:
    """Every number in a hand-typed phone value, in order, without repeats (see the module doc).

    A value with no number in it (``n/a``, ``ask Anna``, ``ext 12``) gives ``()``. Never raises.
    """
    if raw is None:
        return ()
    if not isinstance(raw, str):
        raw = str(raw)
    text = raw[:_MAX_TEXT]
    plain = normalize(text, region=region, match_digits=match_digits)
    if plain is not None:
        return (plain,)
    found: list[Phone] = []
    rest = list(text)
    try:
        matches = list(
            phonenumbers.PhoneNumberMatcher(
                text, region.upper(), leniency=phonenumbers.Leniency.POSSIBLE
            )
        )
    except Exception:  # libphonenumber on hostile input: read the digit runs only
        matches = []
    for match in matches:
        # The number's own text, without an extension ("050-111-22-33 ext 5" → "050-111-22-33").
        number_text = _NUMBER_PART.match(match.raw_string)
        phone = normalize(
            number_text.group(0) if number_text else "", region=region, match_digits=match_digits
        )
        if phone is not None:
            found.append(phone)
            rest[match.start : match.end] = " " * (match.end - match.start)
    for run in _DIGIT_RUN.finditer("".join(rest)):
        phone = normalize(run.group(0), region=region, match_digits=match_digits)
        if phone is not None:
            found.append(phone)
    unique: dict[tuple[str, str], Phone] = {}
    for phone in found:
        unique.setdefault((phone.key, phone.e164), phone)
    return tuple(unique.values())


def same_client(a: Phone, b: Phone, *, strict_country: bool) -> bool:
    """True when two numbers belong to the same client.

    Keys must be equal. With the country guard on (**decided**, SPEC 3), two numbers that both
    parse as *valid* numbers of different countries never match, even when their last digits do
    (``+380 66 123 4567`` vs ``+48 661 234 567``).
    """
    if a.key != b.key:
        return False
    different_countries = (
        a.valid
        and b.valid
        and a.country_code is not None
        and b.country_code is not None
        and a.country_code != b.country_code
    )
    return not (strict_country and different_countries)


def keys_of(
    numbers: Iterable[str | int | None], *, region: str, match_digits: int
) -> frozenset[str]:
    """Phone keys of the numbers that have one (short extensions have none and are dropped)."""
    out: set[str] = set()
    for number in numbers:
        phone = normalize(
            None if number is None else str(number), region=region, match_digits=match_digits
        )
        if phone is not None:
            out.add(phone.key)
    return frozenset(out)


@dataclass(frozen=True)
class OwnNumbers:
    """The company's own numbers, and the rule that tells whether a client number is one of them.

    The rule is client matching's (SPEC 3): same phone key *and* the country guard, so a Polish
    caller who shares nine digits with a company line in Ukraine is a client, not ``own_number``
    (with ``scenario.strict_country_match = false``, the key alone decides, as in Ringostat).
    """

    by_key: Mapping[str, tuple[Phone, ...]] = field(default_factory=dict)
    strict_country: bool = True

    @classmethod
    def of(cls, phones: Iterable[Phone], *, strict_country: bool) -> OwnNumbers:
        by_key: dict[str, list[Phone]] = {}
        for phone in phones:
            by_key.setdefault(phone.key, []).append(phone)
        return cls({k: tuple(v) for k, v in by_key.items()}, strict_country)

    def holds(self, phone: Phone) -> bool:
        """True when ``phone`` is one of these numbers (same client, SPEC 3's rule)."""
        return any(
            same_client(phone, own, strict_country=self.strict_country)
            for own in self.by_key.get(phone.key, ())
        )

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.by_key)


def own_numbers(settings: Settings) -> OwnNumbers:
    """The company's own numbers: ``scenario.company_numbers`` and employees' numbers.

    A call whose client number is one of them is not a client call (``own_number``).
    """
    sc = settings.scenario
    numbers: list[str] = list(sc.company_numbers)
    for entry in settings.employees:
        numbers.extend(entry.numbers)
    phones = (normalize(n, region=sc.default_region, match_digits=sc.match_digits) for n in numbers)
    return OwnNumbers.of(
        (p for p in phones if p is not None), strict_country=sc.strict_country_match
    )


def own_number_keys(settings: Settings) -> frozenset[str]:
    """Keys of the company's own numbers (see :func:`own_numbers`, which also guards countries)."""
    return own_numbers(settings).keys
