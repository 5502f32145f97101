"""Phone normalization and matching (SPEC 3)."""

from __future__ import annotations

import pytest

from models.call import Phone
from models.settings import Settings
from tasks.phones import keys_of, normalize, numbers_in, own_number_keys, same_client


def norm(raw: str | None, region: str = "UA", digits: int = 9) -> Phone | None:
    return normalize(raw, region=region, match_digits=digits)


@pytest.mark.parametrize(
    ("raw", "e164", "key", "country", "valid"),
    [
        ("+380501112233", "+380501112233", "501112233", 380, True),
        ("+380 (50) 111-22-33", "+380501112233", "501112233", 380, True),
        ("380501112233", "+380501112233", "501112233", 380, True),
        ("00380501112233", "+380501112233", "501112233", 380, True),
        ("0501112233", "+380501112233", "501112233", 380, True),
        ("050.111.22.33", "+380501112233", "501112233", 380, True),
        ("tel:+380661234567", "+380661234567", "661234567", 380, True),
        ("  +48 661 234 567 ", "+48661234567", "661234567", 48, True),
        ("+44 (0) 20 7946 0958", "+442079460958", "079460958", 44, True),
        # Old Ukrainian "8 0xx" dialling is not a possible number: digits kept, suffix still works.
        ("80501112233", "80501112233", "501112233", None, False),
    ],
)
def test_normalize_table(raw: str, e164: str, key: str, country: int | None, valid: bool) -> None:
    phone = norm(raw)
    assert phone is not None
    assert (phone.e164, phone.key, phone.country_code, phone.valid) == (e164, key, country, valid)
    assert phone.raw == raw.strip()


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "unknown",
        '"Anna Ivanova" <anna_sip>',
        "<sip:201@pbx.example.com>",
        "sip:anna@pbx",
        "anna_sip",
        "201",  # an extension: fewer digits than match_digits
        "*100",  # voicemail code
        "12345678",  # 8 digits < 9
        "+380501112233#12",  # extension syntax is not a client number
        "+380501112233 ext 5",
        "٠٥٠١١١٢٢٣٣",  # non-ASCII digits
        "1" * 18,  # longer than any international number
    ],
)
def test_normalize_rejects_what_is_not_a_client_number(raw: str | None) -> None:
    assert norm(raw) is None


def test_match_digits_is_configurable() -> None:
    phone = norm("+380501112233", digits=7)
    assert phone is not None and phone.key == "1112233"
    assert norm("1112233", digits=7) is not None
    assert norm("1112233", digits=9) is None


def test_other_default_region_reads_national_numbers_of_that_country() -> None:
    phone = norm("661 234 567", region="PL")
    assert phone is not None and phone.e164 == "+48661234567" and phone.country_code == 48


def test_masked_keeps_only_last_four_digits() -> None:
    phone = norm("+380501112233")
    assert phone is not None and phone.masked == "***2233"


UA = "+380661234567"
PL = "+48661234567"


@pytest.mark.parametrize(
    ("a", "b", "strict", "expected"),
    [
        (UA, "0661234567", True, True),  # same number, other format
        (UA, "+380 66 123 45 67", False, True),
        (UA, PL, True, False),  # decided: country guard, same last 9 digits
        (UA, PL, False, True),  # guard off: exact Ringostat behaviour (last nine digits)
        (UA, "+380501112233", True, False),  # different key
        (UA, "80661234567", True, True),  # unparseable side: the guard needs two valid numbers
        ("+380661234567", "+79661234567", True, False),  # RU mobile vs UA mobile
    ],
)
def test_same_client(a: str, b: str, strict: bool, expected: bool) -> None:
    pa, pb = norm(a), norm(b)
    assert pa is not None and pb is not None
    assert same_client(pa, pb, strict_country=strict) is expected
    assert same_client(pb, pa, strict_country=strict) is expected


def test_own_number_keys_from_company_numbers_and_employee_numbers() -> None:
    settings = Settings(
        scenario={"company_numbers": ["+380441234567", "0 800 300 100"]},
        employees=[
            {"zoho_user": "anna@example.com", "numbers": ["+380501112233", "201"]},
        ],
    )
    assert own_number_keys(settings) == frozenset({"441234567", "800300100", "501112233"})


def test_keys_of_accepts_ints_and_drops_short_numbers() -> None:
    assert keys_of([380501112233, "201", None], region="UA", match_digits=9) == frozenset(
        {"501112233"}
    )


@pytest.mark.parametrize(
    ("raw", "e164", "country"),
    [
        ("48733151952", "+48733151952", 48),  # Ringostat's international form, no '+'
        ("12025550123", "+12025550123", 1),
        ("380730103403", "+380730103403", 380),
        ("0501234567", "+380501234567", 380),  # national form stays in the default region
    ],
)
def test_international_numbers_without_plus(raw: str, e164: str, country: int) -> None:
    phone = normalize(raw, region="UA", match_digits=9)
    assert phone is not None
    assert (phone.e164, phone.country_code, phone.valid) == (e164, country, True)


@pytest.mark.parametrize(
    ("value", "e164s"),
    [
        ("067 111 22 99, 050 111 22 98", ["+380671112299", "+380501112298"]),
        ("+380 67 111 22 77 (viber)", ["+380671112277"]),
        ("tel. 050-111-22-33 ext 5", ["+380501112233"]),
        ("+380 44 123 4567 доб. 12", ["+380441234567"]),
        ("0671112299;0501112298", ["+380671112299", "+380501112298"]),
        ("0671112299 0501112298", ["+380671112299", "+380501112298"]),
        ("067-111-22-99/050-111-22-98", ["+380671112299", "+380501112298"]),
        ("+48 733 151 952; 067 111 22 99", ["+48733151952", "+380671112299"]),
        ("viber: 48733151952", ["+48733151952"]),  # Ringostat-style, without '+'
        ("Ivan 671112299", ["+380671112299"]),  # nine digits, no trunk prefix
        ("067 111 22 99 or 0671112299", ["+380671112299"]),  # once
        ("+380501112233", ["+380501112233"]),  # a plain number reads as normalize reads it
        ("48733151952", ["+48733151952"]),
        ("n/a", []),
        ("ask Anna", []),
        ("ext. 12", []),
        ("since 2023-01-15", []),
        ("", []),
        (None, []),
    ],
)
def test_numbers_in_hand_typed_values(value: str | None, e164s: list[str]) -> None:
    assert [p.e164 for p in numbers_in(value, region="UA", match_digits=9)] == e164s
