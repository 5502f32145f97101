"""Values cut to their Zoho field's length (tasks/zoho/fit.py)."""

from __future__ import annotations

import pytest

from tasks.zoho.fit import cut, fit_records, text_limits

FIELDS = [
    {"api_name": "Last_Name", "data_type": "text", "length": 80},
    {"api_name": "Description", "data_type": "textarea", "length": 32000},
    {"api_name": "Email", "data_type": "email", "length": 100},
    {"api_name": "Website", "data_type": "website", "length": 255},
    {"api_name": "rs_sync_key", "data_type": "text", "length": 20},
    {"api_name": "Owner", "data_type": "ownerlookup", "length": 120},
    {"api_name": "Broken", "data_type": "text"},
]


def test_only_text_fields_with_a_length_are_cut() -> None:
    assert text_limits(FIELDS) == {"Last_Name": 80, "Description": 32000, "rs_sync_key": 20}


@pytest.mark.parametrize(
    ("value", "length", "expected"),
    [("abc", 3, "abc"), ("abcd", 3, "ab…"), ("", 1, ""), ("ab", 1, "…"), ("дзвінок", 4, "дзв…")],
)
def test_cut_keeps_what_fits_and_marks_what_does_not(
    value: str, length: int, expected: str
) -> None:
    assert cut(value, length) == expected
    assert len(cut(value, length)) <= length


def test_fit_records_cuts_every_too_long_text_value_but_the_kept_ones() -> None:
    records = [
        {"Last_Name": "x" * 81, "Email": "a" * 200, "rs_sync_key": "k" * 30, "Owner": {"id": "1"}},
        {"Last_Name": "short", "Description": 42},
    ]
    fitted, n = fit_records(records, text_limits(FIELDS), keep=("rs_sync_key",))
    assert n == 1
    assert fitted[0]["Last_Name"] == "x" * 79 + "…"
    assert fitted[0]["Email"] == "a" * 200  # not a text field: Zoho's check stays the judge
    assert fitted[0]["rs_sync_key"] == "k" * 30
    assert fitted[1] == records[1]
    assert records[0]["Last_Name"] == "x" * 81  # the input is left alone
