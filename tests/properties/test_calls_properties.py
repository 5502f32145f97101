"""parse_row never raises: every row becomes a Call or an Unprocessable with a reason code."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.call import Call, Unprocessable
from models.plan import Reason
from models.settings import Settings
from tasks.calls import parse_row

SETTINGS = Settings(scenario={"company_numbers": ["+380441234567"]})
FIELDS = [
    "uniqueid",
    "calldate",
    "call_type",
    "disposition",
    "caller",
    "caller_number",
    "dst",
    "connected_with",
    "employee_number",
    "duration",
    "billsec",
    "recording",
    "utm_source",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
plausible = {
    "uniqueid": st.text(max_size=12) | st.integers(),
    "calldate": st.sampled_from(
        ["2026-01-18 10:00:00", "2025-03-30 03:30:00", "2025-10-26 03:30:00", "9999-12-31 23:59:59"]
    )
    | st.text(max_size=25),
    "call_type": st.sampled_from(["in", "out", "callback", "transitin", "transitout", "x"]),
    "disposition": st.sampled_from(["ANSWERED", "NO+ANSWER", "no_answer", "IN PROGRESS", "?"]),
    "caller": st.sampled_from(["+380501112233", '"A" <a_sip>', "anonymous", "+380441234567"])
    | st.text(max_size=20),
    "dst": st.sampled_from(["+380501112233", "201"]) | st.integers(),
    "duration": st.integers(-5, 10**6) | st.text(max_size=5) | st.floats(),
}


@settings(max_examples=150, deadline=None)
@given(row=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS)))
def test_parse_row_never_raises_on_arbitrary_values(row: dict[str, Any]) -> None:
    result = parse_row(row, SETTINGS)
    assert isinstance(result, Call | Unprocessable)
    if isinstance(result, Unprocessable):
        assert result.reason in {r.value for r in Reason}
        assert result.status in {"quarantined", "skipped", "deferred"}


@settings(max_examples=300, deadline=None)
@given(row=st.fixed_dictionaries({}, optional=plausible))
def test_parse_row_on_plausible_rows(row: dict[str, Any]) -> None:
    result = parse_row(row, SETTINGS)
    if isinstance(result, Call):
        assert result.started_at.tzinfo is not None
        assert result.ended_at >= result.started_at
        assert len(result.client.key) == 9
        assert result.client.key != "441234567"  # the company's own number is never a client
    else:
        assert result.reason in {r.value for r in Reason}
