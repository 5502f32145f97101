"""Properties of the COQL builder: no unvalidated text gets in, and what it builds Zoho parses.

"Zoho parses" is checked with the emulator's COQL parser and evaluator (which enforce Zoho's
syntax: pairwise parentheses, ``in`` ≤ 50, limit/offset bounds, known columns).
"""

from __future__ import annotations

import string
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.zoho import ZohoState, coql_eval
from emulators.zoho import coql as emulator_coql
from tasks.zoho.coql import (
    Condition,
    CoqlError,
    Value,
    all_of,
    any_of,
    api_name,
    ends_with,
    eq,
    in_,
    is_not_null,
    phone,
    select,
    sync_key,
    zoho_id,
)

DIGITS = set("0123456789")
KEY_CHARS = set(string.ascii_letters + string.digits + "._:/-")
NAME_CHARS = set(string.ascii_letters + string.digits + "_.")

# Arbitrary text, plus text made mostly of the characters an injection needs.
nasty = st.text(
    alphabet=st.sampled_from(list("0123456789+aZ._:/-' %\\\"();=\n\t\u0660")), max_size=40
)
anything = st.one_of(st.text(max_size=60), nasty)


def _accepted(build: Callable[[str], object], text: str) -> bool:
    try:
        build(text)
    except CoqlError:
        return False
    return True


@settings(max_examples=300)
@given(anything)
def test_ids_are_ascii_digits_or_refused(text: str) -> None:
    if _accepted(zoho_id, text):
        assert text and set(text) <= DIGITS
        assert zoho_id(text) == Value(f"'{text}'")


@settings(max_examples=300)
@given(anything)
def test_phones_are_plus_and_digits_or_refused(text: str) -> None:
    if _accepted(phone, text):
        body = text.removeprefix("+")
        assert body and set(body) <= DIGITS


@settings(max_examples=300)
@given(anything)
def test_sync_keys_use_the_safe_alphabet_or_are_refused(text: str) -> None:
    if _accepted(sync_key, text):
        assert 0 < len(text) <= 255 and set(text) <= KEY_CHARS
        assert "'" not in text


@settings(max_examples=300)
@given(anything)
def test_suffixes_and_names_are_refused_unless_safe(text: str) -> None:
    if _accepted(lambda t: ends_with("Phone", t), text):
        assert text and set(text) <= DIGITS
    if _accepted(api_name, text):
        assert text and set(text) <= NAME_CHARS and not text[0].isdigit()


@settings(max_examples=200)
@given(st.lists(anything, min_size=1, max_size=5))
def test_a_query_never_carries_unvalidated_text(texts: list[str]) -> None:
    """Whatever the input, either the builder raises or every quote in the query is balanced
    and each value sits alone between its quotes."""
    try:
        where = in_("rs_sync_key", [sync_key(t) for t in texts])
    except CoqlError:
        return
    query = select("Tasks", ["id", "rs_sync_key"], where)
    assert query.count("'") == 2 * len(texts)
    for text in texts:
        assert f"'{text}'" in query


# -- built queries parse and run in the emulator ------------------------------------------

_digits = st.text(alphabet="0123456789", min_size=1, max_size=15)
_key = st.builds(
    lambda head, rest: head + rest,
    st.sampled_from(list(string.ascii_letters + string.digits)),
    st.text(alphabet=sorted(KEY_CHARS), max_size=40),
)
_leaf: st.SearchStrategy[Condition] = st.one_of(
    st.builds(lambda d: eq("id", zoho_id(d)), _digits),
    st.builds(lambda p, d: eq("Phone", phone(p + d)), st.sampled_from(["", "+"]), _digits),
    st.builds(lambda d, f: ends_with(f, d), _digits, st.sampled_from(["Phone", "Mobile"])),
    st.builds(
        lambda ks: in_("rs_sync_key", [sync_key(k) for k in ks]),
        st.lists(_key, min_size=1, max_size=50),
    ),
    st.builds(is_not_null, st.sampled_from(["Phone", "Owner", "Last_Name", "rs_sync_key"])),
)


def _combine(children: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    groups = st.lists(children, min_size=1, max_size=4)
    return st.one_of(
        st.builds(lambda cs: all_of(*cs), groups), st.builds(lambda cs: any_of(*cs), groups)
    )


_where = st.recursive(_leaf, _combine, max_leaves=12).filter(lambda c: c.criteria <= 25)


@settings(max_examples=200, deadline=None)
@given(
    where=_where,
    fields=st.lists(
        st.sampled_from(["id", "Phone", "Mobile", "Owner", "Modified_Time", "rs_sync_key"]),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    order_by=st.sampled_from([None, "Modified_Time", "id"]),
    limit=st.integers(1, 2000),
    offset=st.integers(0, 98_000),
)
def test_built_queries_parse_in_the_emulator(
    where: Condition, fields: list[str], order_by: str | None, limit: int, offset: int
) -> None:
    query = select("Leads", fields, where, order_by=order_by, limit=limit, offset=offset)
    parsed = emulator_coql.parse(query)  # raises Zoho's SYNTAX_ERROR/LIMIT_EXCEEDED if not
    assert (parsed.limit, parsed.offset) == (limit, offset)
    rows, more = coql_eval.execute(ZohoState(), parsed)  # raises on unknown columns or values
    assert rows == [] and not more
