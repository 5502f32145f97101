"""The phones suite: frames that pass, and one failing call per expectation, named by its id."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from expectations.phones import phones_frame, validate_calls
from expectations.runner import GxRunner
from models.call import Call, Direction, Outcome, Phone
from models.settings import Settings

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
SETTINGS = Settings()


def phone(e164: str = "+380501112233", key: str | None = None) -> Phone:
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return Phone(
        raw=e164,
        e164=e164,
        key=digits[-9:] if key is None else key,
        country_code=380,
        valid=True,
    )


def call(uniqueid: str, **changes: Any) -> Call:
    base = Call(
        uniqueid=uniqueid,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=90),
        direction=Direction.INBOUND,
        outcome=Outcome.ANSWERED,
        disposition="ANSWERED",
        call_type="in",
        client=phone(),
        duration=90,
        billsec=80,
        employee_ids=("anna_sip",),
        employee_label="anna_sip",
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GxRunner]:
    yield GxRunner(tmp_path_factory.mktemp("gx_docs_phones"))


def test_good_calls_pass(runner: GxRunner) -> None:
    calls = [
        call("c1"),
        call("c2", client=phone("+48601234567"), direction=Direction.OUTBOUND),
        call("c3", outcome=Outcome.MISSED, ended_at=T0),  # zero-length call: end == start
        call("c4", outcome=Outcome.VOICEMAIL),
    ]
    outcome = validate_calls(runner, calls, SETTINGS)
    assert outcome.success
    assert outcome.failed == {}
    assert outcome.statistics["evaluated_expectations"] == 9
    assert outcome.statistics["unsuccessful_expectations"] == 0
    json.dumps(outcome.results)  # JSON-serializable as promised


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (call("", client=phone()), "expect_column_values_to_match_regex:uniqueid"),
        (
            call("x", client=phone("380501112233")),
            "expect_column_values_to_match_regex:client_e164",
        ),
        (call("x", client=phone("+0501112233")), "expect_column_values_to_match_regex:client_e164"),
        (
            call("x", client=phone("+3805011122334455")),
            "expect_column_values_to_match_regex:client_e164",
        ),
        (call("x", client=phone("")), "expect_column_values_to_not_be_null:client_e164"),
        (
            call("x", client=phone(key="501112299")),
            "expect_column_values_to_be_in_set:key_matches_e164",
        ),
        (
            call("x", client=phone(key="0501112233")),
            "expect_column_values_to_be_in_set:key_matches_e164",
        ),
        (
            call("x", direction=cast(Direction, "transit")),
            "expect_column_values_to_be_in_set:direction",
        ),
        (call("x", outcome=cast(Outcome, "busy")), "expect_column_values_to_be_in_set:outcome"),
        (
            call("x", ended_at=T0 - timedelta(seconds=1)),
            "expect_column_pair_values_a_to_be_greater_than_b:ended_at_utc,started_at_utc",
        ),
    ],
)
def test_each_expectation_names_the_failing_call(
    runner: GxRunner, bad: Call, expected: str
) -> None:
    outcome = validate_calls(runner, [call("ok1"), bad, call("ok2")], SETTINGS)
    assert not outcome.success
    assert outcome.failed == {bad.uniqueid: expected}


def test_duplicate_ids_fail_every_copy_and_nothing_else(runner: GxRunner) -> None:
    calls = [
        call("dup"),
        call("ok"),
        call("dup", started_at=T0 + timedelta(minutes=5), ended_at=T0 + timedelta(minutes=6)),
    ]
    outcome = validate_calls(runner, calls, SETTINGS)
    assert outcome.failed == {"dup": "expect_column_values_to_be_unique:uniqueid"}
    assert outcome.statistics["unsuccessful_expectations"] == 1


def test_first_failed_expectation_in_suite_order_wins(runner: GxRunner) -> None:
    # Fails the E.164 shape, the key rule and the time order: the E.164 rule comes first.
    bad = call("bad", client=phone("12345", key="999999999"), ended_at=T0 - timedelta(hours=1))
    outcome = validate_calls(runner, [bad, call("other", outcome=cast(Outcome, "weird"))], SETTINGS)
    assert outcome.failed == {
        "bad": "expect_column_values_to_match_regex:client_e164",
        "other": "expect_column_values_to_be_in_set:outcome",
    }
    assert outcome.statistics["unsuccessful_expectations"] == 4


def test_match_digits_comes_from_settings(runner: GxRunner) -> None:
    seven = Settings(scenario={"match_digits": 7})
    c = call("k7", client=phone(key="1112233"))
    assert validate_calls(runner, [c], seven).success
    assert validate_calls(runner, [c], SETTINGS).failed == {
        "k7": "expect_column_values_to_be_in_set:key_matches_e164"
    }


def test_frame_shape() -> None:
    c = call("c1", started_at=T0.astimezone(_kyiv()), ended_at=T0 + timedelta(seconds=30))
    frame = phones_frame([c], SETTINGS)
    row = frame.iloc[0]
    assert row["uniqueid"] == "c1"
    assert row["key_matches_e164"]
    assert row["direction"] == "inbound"
    # Aware input, naive UTC output (GX pair metrics cannot read tz-aware columns).
    assert row["started_at_utc"].to_pydatetime() == T0.replace(tzinfo=None)
    assert str(frame["started_at_utc"].dtype).startswith("datetime64")
    assert phones_frame([], SETTINGS).empty


def test_empty_batch_passes(runner: GxRunner) -> None:
    assert validate_calls(runner, [], SETTINGS).success


def _kyiv() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Kyiv")


def test_docs_index_is_built(runner: GxRunner) -> None:
    validate_calls(runner, [call("c1")], SETTINGS)
    index = runner.build_docs()
    assert index.name == "index.html"
    assert index.is_file()
    assert Path(index).parent == runner.data_docs_dir
