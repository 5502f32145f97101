"""Suite ``callsync_phones``: the parsed calls and their normalized client numbers (SPEC 2–3).

One row per :class:`models.call.Call`, keyed by ``uniqueid``. Expectations, in order (a row's
reason code is the first one it fails):

1. ``expect_column_values_to_not_be_null:uniqueid`` and
   ``expect_column_values_to_match_regex:uniqueid`` (``\\S``) — every call has an id;
2. ``expect_column_values_to_be_unique:uniqueid`` — ids are unique in the batch;
3. ``expect_column_values_to_not_be_null:client_e164`` and
   ``expect_column_values_to_match_regex:client_e164`` — E.164 shape ``^\\+[1-9]\\d{6,14}$``;
4. ``expect_column_values_to_be_in_set:key_matches_e164`` — a derived boolean: the phone key is
   the last ``scenario.match_digits`` digits of the E.164 number (what matching relies on);
5. ``expect_column_values_to_be_in_set:direction`` — ``inbound`` or ``outbound``;
6. ``expect_column_values_to_be_in_set:outcome`` — ``answered``, ``missed`` or ``voicemail``;
7. ``expect_column_pair_values_a_to_be_greater_than_b:ended_at_utc,started_at_utc`` (or equal).

Times go in as naive UTC ``datetime64`` columns: GX's column-pair metrics read ``Series.values``,
which pandas deprecates for time-zone-aware columns (a warning, and a failed metric).

The frame carries client numbers, so a malformed one can appear in the local Data Docs — the
same trust level as the state store and the DuckDB file, never an INFO log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no pandas-stubs in the lock

from expectations.runner import GxRunner, SuiteOutcome, SuiteSpec
from models.call import Call, Direction, Outcome
from models.settings import Settings

SUITE_NAME = "callsync_phones"
ID_COLUMN = "uniqueid"
E164_PATTERN = r"^\+[1-9]\d{6,14}$"

COLUMNS = (
    "uniqueid",
    "client_e164",
    "phone_key",
    "key_matches_e164",
    "direction",
    "outcome",
    "started_at_utc",
    "ended_at_utc",
)


def _utc_naive(value: datetime) -> datetime:
    # Aware in, naive UTC out: see the module docstring (GX pair metrics and tz-aware columns).
    return value.astimezone(UTC).replace(tzinfo=None)


def key_matches(e164: str | None, key: str | None, match_digits: int) -> bool:
    """The phone key is exactly the last ``match_digits`` digits of the E.164 number."""
    if not e164 or not key:
        return False
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return len(digits) >= match_digits and digits[-match_digits:] == key


def phones_frame(calls: Sequence[Call], settings: Settings) -> pd.DataFrame:
    """One row per call with the columns the suite checks (see the module docstring)."""
    digits = settings.scenario.match_digits
    rows = [
        {
            "uniqueid": c.uniqueid,
            "client_e164": c.client.e164 or None,
            "phone_key": c.client.key or None,
            "key_matches_e164": key_matches(c.client.e164, c.client.key, digits),
            "direction": str(c.direction),
            "outcome": str(c.outcome),
            "started_at_utc": _utc_naive(c.started_at),
            "ended_at_utc": _utc_naive(c.ended_at),
        }
        for c in calls
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("started_at_utc", "ended_at_utc"):
        frame[col] = pd.to_datetime(frame[col])
    frame["key_matches_e164"] = frame["key_matches_e164"].astype(bool)
    return frame


def _build(gx: ModuleType) -> list[Any]:
    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToNotBeNull(column="uniqueid"),
        ex.ExpectColumnValuesToMatchRegex(column="uniqueid", regex=r"\S"),
        ex.ExpectColumnValuesToBeUnique(column="uniqueid"),
        ex.ExpectColumnValuesToNotBeNull(column="client_e164"),
        ex.ExpectColumnValuesToMatchRegex(column="client_e164", regex=E164_PATTERN),
        ex.ExpectColumnValuesToBeInSet(column="key_matches_e164", value_set=[True]),
        ex.ExpectColumnValuesToBeInSet(column="direction", value_set=[d.value for d in Direction]),
        ex.ExpectColumnValuesToBeInSet(column="outcome", value_set=[o.value for o in Outcome]),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="ended_at_utc", column_B="started_at_utc", or_equal=True
        ),
    ]


SUITE = SuiteSpec(SUITE_NAME, _build)


def validate_calls(runner: GxRunner, calls: Sequence[Call], settings: Settings) -> SuiteOutcome:
    """Run the phones suite over ``calls``; ``failed`` is keyed by call ``uniqueid``."""
    runner.register(SUITE)
    return runner.validate(SUITE_NAME, phones_frame(calls, settings), ID_COLUMN)
