"""Ringostat wire helpers: wall-clock windows (with DST) and JSON/CSV rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tasks.ringostat.wire import (
    WireFormatError,
    canonical_row,
    format_wall,
    parse_csv_rows,
    parse_json_rows,
    parse_wall,
    wall_span,
)

KYIV = ZoneInfo("Europe/Kyiv")


def span(start: datetime, end: datetime, zone: ZoneInfo = KYIV) -> tuple[str, str]:
    lo, hi = wall_span(start, end, zone)
    return format_wall(lo), format_wall(hi)


def test_wall_times_round_trip() -> None:
    assert format_wall(parse_wall("2025-03-28 10:00:59")) == "2025-03-28 10:00:59"
    with pytest.raises(ValueError):
        parse_wall("2025-03-28T10:00:59")


def test_a_plain_window_is_its_wall_clock_floored_to_the_second() -> None:
    start = datetime(2025, 1, 10, 8, 0, 0, 999999, tzinfo=UTC)
    assert span(start, start + timedelta(hours=2)) == ("2025-01-10 10:00:00", "2025-01-10 12:00:00")


def test_spring_forward_needs_nothing_special() -> None:
    # 2025-03-30 03:00 EET jumps to 04:00 EEST (01:00 UTC).
    start = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)
    assert span(start, start + timedelta(hours=1)) == ("2025-03-30 02:30:00", "2025-03-30 04:30:00")


def test_fall_back_covers_both_copies_of_the_repeated_hour() -> None:
    # 2025-10-26 04:00 EEST falls back to 03:00 EET (01:00 UTC).
    start = datetime(2025, 10, 26, 0, 45, tzinfo=UTC)  # 03:45 EEST
    assert span(start, start + timedelta(minutes=30)) == (
        "2025-10-26 03:00:00",  # the repeated hour starts again at 03:00 EET
        "2025-10-26 03:59:59",  # the last second before the change
    )
    later = datetime(2025, 10, 26, 2, 30, tzinfo=UTC)  # 04:30 EET, after the repeated hour
    assert span(start, later) == ("2025-10-26 03:00:00", "2025-10-26 04:30:00")


def test_a_year_long_window_spans_its_walls() -> None:
    start = datetime(2024, 12, 31, 22, tzinfo=UTC)
    end = datetime(2025, 12, 31, 22, tzinfo=UTC)
    assert span(start, end) == ("2025-01-01 00:00:00", "2026-01-01 00:00:00")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        wall_span(datetime(2025, 1, 1), datetime(2025, 1, 2, tzinfo=UTC), KYIV)  # noqa: DTZ001


def test_json_and_csv_rows_become_the_same_text() -> None:
    as_json = parse_json_rows(
        '[{"uniqueid": "a", "billsec": 12, "caller": "380501234567", "recording": null,'
        ' "has_recording": true, "employee_fio": "Анна"}]'
    )
    as_csv = parse_csv_rows(
        "\ufeffuniqueid;billsec;caller;recording;has_recording;employee_fio\r\n"
        "a;12;380501234567;;1;Анна\r\n"
    )
    assert [canonical_row(r) for r in as_json] == [canonical_row(r) for r in as_csv] == [
        {"uniqueid": "a", "billsec": "12", "caller": "380501234567", "recording": "",
         "has_recording": "1", "employee_fio": "Анна"}
    ]  # fmt: skip


def test_short_and_long_csv_lines() -> None:
    rows = parse_csv_rows("a;b;c\n1;2\n4;5;6;7\n")
    assert [canonical_row(r) for r in rows] == [
        {"a": "1", "b": "2", "c": ""},
        {"a": "4", "b": "5", "c": "6"},
    ]


@pytest.mark.parametrize(
    "text", ["{not json", '{"uniqueid": "a"}', "[1, 2]", "", "  \n", "null", "<html>x</html>"]
)
def test_unreadable_json(text: str) -> None:
    with pytest.raises(WireFormatError):
        parse_json_rows(text)


@pytest.mark.parametrize("text", ["<html><body>oops</body></html>", "", "\r\n", '{"a": 1}'])
def test_unreadable_csv(text: str) -> None:
    with pytest.raises(WireFormatError):
        parse_csv_rows(text)


def test_only_an_empty_list_is_no_calls() -> None:
    assert parse_json_rows("[]") == parse_json_rows("\ufeff [ ]\n") == []
    assert parse_csv_rows("uniqueid;calldate\r\n") == []


def test_canonical_values() -> None:
    assert canonical_row({"a": 1, "b": None, "c": 2.5, "d": True, "e": "x", "f": [1]}) == {
        "a": "1", "b": "", "c": "2.5", "d": "1", "e": "x", "f": "[1]"
    }  # fmt: skip
