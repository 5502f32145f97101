"""The COQL builder: exact query text, Zoho's limits, and refusal of anything unvalidated."""

from __future__ import annotations

import pytest

from tasks.zoho.coql import (
    CoqlError,
    all_of,
    any_of,
    contains,
    digits_in_order,
    ends_with,
    eq,
    in_,
    is_not_null,
    limit_of,
    phone,
    select,
    sync_key,
    zoho_id,
)


def test_phone_suffix_query() -> None:
    where = any_of(ends_with("Phone", "661234567"), ends_with("Mobile", "661234567"))
    assert select("Leads", ["id", "Phone", "Owner"], where, limit=2000) == (
        "select id, Phone, Owner from Leads where "
        "(Phone like '%661234567' or Mobile like '%661234567') limit 2000"
    )


def test_typed_number_patterns() -> None:
    # the key's digits in order, anything between: "+38 (093) 000-10-30" is found by its key
    assert digits_in_order("Phone", "930001030").sql == "Phone like '%9%3%0%0%0%1%0%3%0%'"
    assert contains("Mobile", "930001030").sql == "Mobile like '%930001030%'"
    for build in (digits_in_order, contains):
        with pytest.raises(CoqlError):
            build("Phone", "93%0")


def test_more_than_two_conditions_are_pairwise_parenthesized() -> None:
    a, b, c = eq("id", zoho_id("1")), eq("Phone", phone("+380661234567")), is_not_null("Owner")
    assert all_of(a).sql == "id = '1'"
    assert all_of(a, b, c).sql == ("((id = '1' and Phone = '+380661234567') and Owner is not null)")
    assert all_of(a, b, c).criteria == 3


def test_in_takes_at_most_50_values() -> None:
    keys = [sync_key(f"ua-{i}/task") for i in range(50)]
    assert in_("rs_sync_key", keys).sql.count("'") == 100
    with pytest.raises(CoqlError, match="1 to 50"):
        in_("rs_sync_key", [*keys, sync_key("one-more/task")])
    with pytest.raises(CoqlError):
        in_("rs_sync_key", [])


def test_order_limit_offset() -> None:
    q = select(
        "Leads", ["id"], is_not_null("id"), order_by="Modified_Time", limit=2000, offset=4000
    )
    assert (
        q
        == "select id from Leads where id is not null order by Modified_Time asc limit 2000 offset 4000"
    )
    assert limit_of(q) == 2000
    assert limit_of("select id from Leads where id is not null") == 200
    with pytest.raises(CoqlError):
        select("Leads", ["id"], is_not_null("id"), limit=2001)
    with pytest.raises(CoqlError, match="100000"):
        select("Leads", ["id"], is_not_null("id"), limit=2000, offset=98_001)


@pytest.mark.parametrize(
    ("build", "value"),
    [
        (zoho_id, "12a"),
        (zoho_id, "1' or '1'='1"),
        (zoho_id, "١٢٣"),  # Arabic-Indic digits are digits to str.isdigit, not to Zoho
        (phone, "+38 066"),
        (phone, "066-123"),
        (phone, "++380"),
        (sync_key, "ua-1/lead' or id is not null"),
        (sync_key, "a b/lead"),
        (sync_key, "%/lead"),
        (sync_key, "x/lead\n"),
        (sync_key, ""),
        (sync_key, "k" * 256),
    ],
)
def test_values_refused(build: object, value: str) -> None:
    with pytest.raises(CoqlError):
        build(value)  # type: ignore[operator]


@pytest.mark.parametrize(
    "name", ["Phone; drop", "Owner.id.name", "1Phone", "Phone)", "", "Last Name"]
)
def test_names_refused(name: str) -> None:
    with pytest.raises(CoqlError):
        select("Leads", [name], is_not_null("id"))
    with pytest.raises(CoqlError):
        is_not_null(name)


def test_ends_with_takes_digits_only() -> None:
    with pytest.raises(CoqlError):
        ends_with("Phone", "+380661234567")
    with pytest.raises(CoqlError):
        ends_with("Phone", "1234%")


def test_at_most_25_criteria() -> None:
    many = [eq("id", zoho_id(str(i))) for i in range(26)]
    assert all_of(*many[:25]).criteria == 25
    with pytest.raises(CoqlError, match="25"):
        any_of(*many)


def test_sync_keys_of_real_shapes_pass() -> None:
    for key in ("ua-987h79879/lead", "1712345678.12345/task-responsible", "ua_1:2/call"):
        assert sync_key(key).sql == f"'{key}'"
