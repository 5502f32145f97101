"""Properties of phone normalization (SPEC 3)."""

from __future__ import annotations

import phonenumbers
from hypothesis import example, given
from hypothesis import strategies as st

from tasks.phones import normalize, numbers_in, same_client

REGIONS = st.sampled_from(["UA", "PL", "US", "GB", "DE", "KZ"])
SEPARATORS = st.sampled_from(["", " ", "-", ".", "  ", " - "])


@given(raw=st.one_of(st.none(), st.text()), region=REGIONS, digits=st.integers(6, 15))
@example(raw='"Anna" <anna_sip>', region="UA", digits=9)
@example(raw="+" * 40 + "1" * 15, region="UA", digits=9)
@example(raw="tel:", region="UA", digits=9)
def test_normalize_never_raises_on_any_text(raw: str | None, region: str, digits: int) -> None:
    phone = normalize(raw, region=region, match_digits=digits)
    if phone is not None:
        assert len(phone.key) == digits and phone.key.isdigit()
        assert phone.e164.lstrip("+").endswith(phone.key)


@given(
    raw=st.text(alphabet="0123456789 +-()./", max_size=30),
    region=REGIONS,
    digits=st.integers(6, 12),
)
def test_normalize_never_raises_on_number_like_text(raw: str, region: str, digits: int) -> None:
    phone = normalize(raw, region=region, match_digits=digits)
    if phone is not None:
        # normalizing the normalized number again changes nothing
        again = normalize(phone.e164, region=region, match_digits=digits)
        assert again is not None and again.key == phone.key


def _spread(digits: str, seps: list[str]) -> str:
    """Insert separators between digits (one separator per gap, cycling)."""
    out = []
    for i, ch in enumerate(digits):
        if i:
            out.append(seps[i % len(seps)])
        out.append(ch)
    return "".join(out)


UA_OPERATORS = ["50", "63", "66", "67", "68", "73", "91", "93", "95", "96", "97", "98", "99", "44"]


@given(
    operator=st.sampled_from(UA_OPERATORS),
    subscriber=st.text(alphabet="0123456789", min_size=7, max_size=7),
    seps=st.lists(SEPARATORS, min_size=1, max_size=4),
    brackets=st.booleans(),
)
def test_ukrainian_number_variants_get_one_key(
    operator: str, subscriber: str, seps: list[str], brackets: bool
) -> None:
    nsn = operator + subscriber
    op = f"({operator})" if brackets else operator
    rest = _spread(subscriber, seps)
    variants = [
        "+380" + nsn,
        f"+380 {op} {rest}",
        f"+38 (0{operator}) {rest}",
        f"+38 0{operator} {rest}",
        f"00380{op}{rest}",
        f"380-{op}-{rest}",
        f"0{op} {rest}",
        f"(0{operator}) {rest}",
        "tel:+380" + nsn,
    ]
    phones = [normalize(v, region="UA", match_digits=9) for v in variants]
    assert all(p is not None for p in phones), variants
    keys = {p.key for p in phones if p is not None}
    assert keys == {nsn[-9:]}
    assert {p.e164 for p in phones if p is not None} == {"+380" + nsn}
    first = phones[0]
    assert first is not None
    assert all(same_client(first, p, strict_country=True) for p in phones if p is not None)


EXAMPLES = [
    (region, n)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    if (n := phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE))
    is not None
    and len(phonenumbers.national_significant_number(n)) >= 9
]


@given(
    example_number=st.sampled_from(EXAMPLES),
    seps=st.lists(SEPARATORS, min_size=1, max_size=3),
    default_region=REGIONS,
)
def test_international_variants_get_one_key(
    example_number: tuple[str, phonenumbers.PhoneNumber],
    seps: list[str],
    default_region: str,
) -> None:
    region, number = example_number
    cc = str(number.country_code)
    nsn = phonenumbers.national_significant_number(number)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    variants = [
        e164,
        f"+{cc} {_spread(nsn, seps)}",
        f"00{cc}{_spread(nsn, seps)}",
        f"+{cc} ({nsn[:3]}) {nsn[3:]}",
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    ]
    phones = [normalize(v, region=default_region, match_digits=9) for v in variants]
    assert all(p is not None for p in phones), (region, variants)
    assert {p.key for p in phones if p is not None} == {e164[-9:]}
    # the national form, read with that country as the default region
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    local = normalize(national, region=region, match_digits=9)
    if local is not None:  # some national formats carry letters or '*' and are rejected
        assert local.key == e164[-9:]


@given(raw=st.one_of(st.none(), st.text(max_size=200)), region=REGIONS, digits=st.integers(6, 15))
@example(raw="067 111 22 99, 050 111 22 98", region="UA", digits=9)
@example(raw="+" * 40 + "1" * 15 + " x", region="UA", digits=9)
def test_numbers_in_never_raises_and_finds_keys_only(
    raw: str | None, region: str, digits: int
) -> None:
    phones = numbers_in(raw, region=region, match_digits=digits)
    for phone in phones:
        assert len(phone.key) == digits and phone.key.isdigit()
        assert phone.e164.lstrip("+").endswith(phone.key)
    assert len({(p.key, p.e164) for p in phones}) == len(phones)
    plain = normalize(raw, region=region, match_digits=digits)
    if plain is not None:  # a plain number is read exactly as a client number is
        assert phones == (plain,)


@given(
    numbers=st.lists(
        st.tuples(
            st.sampled_from(UA_OPERATORS), st.text(alphabet="0123456789", min_size=7, max_size=7)
        ),
        min_size=1,
        max_size=4,
    ),
    joiner=st.sampled_from([", ", "; ", " / ", " or ", "\n", " (work), "]),
    national=st.booleans(),
    words=st.sampled_from(["", "tel. ", "Ivan: "]),
)
def test_every_number_of_a_typed_list_is_found(
    numbers: list[tuple[str, str]], joiner: str, national: bool, words: str
) -> None:
    written = [
        (f"0{op} {sub[:3]} {sub[3:5]} {sub[5:]}" if national else f"+380 {op} {sub}")
        for op, sub in numbers
    ]
    phones = numbers_in(words + joiner.join(written), region="UA", match_digits=9)
    wanted = list(dict.fromkeys("+380" + op + sub for op, sub in numbers))
    assert [p.e164 for p in phones] == wanted


def test_a_stray_plus_inside_reads_the_same_twice() -> None:
    # Found by Hypothesis: '0100000+0' was kept as bare digits, which then parsed as a GB number.
    phone = normalize("0100000+0", region="GB", match_digits=8)
    assert phone is not None
    again = normalize(phone.e164, region="GB", match_digits=8)
    assert again is not None and again.key == phone.key
