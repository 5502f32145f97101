"""Property: reading consecutive windows through the client yields every call exactly once.

Random call logs (many calls per second allowed, below the per-request cap) and random window
boundaries (sub-second, unevenly spaced), with a tiny cap so that most reads must be split.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from emulators.ringostat import RingostatState, create_app
from models.settings import RingostatSettings
from tasks.ringostat import RingostatClient

BASE = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
SPAN_S = 3 * 3600
STATE = RingostatState(timezone="UTC")
APP = create_app(STATE)


async def _never_sleep(seconds: float) -> None:
    raise AssertionError("no retries expected against the in-process emulator")


def _wall(offset_s: int) -> str:
    return (BASE + timedelta(seconds=offset_s)).strftime("%Y-%m-%d %H:%M:%S")


calls = st.lists(st.integers(min_value=0, max_value=SPAN_S), min_size=0, max_size=120)
cuts = st.lists(
    st.floats(min_value=-60, max_value=SPAN_S + 60, allow_nan=False), min_size=2, max_size=8
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seconds=calls, boundaries=cuts, cap=st.integers(min_value=4, max_value=12), csv=st.booleans()
)
def test_consecutive_windows_read_every_call_exactly_once(
    seconds: list[int], boundaries: list[float], cap: int, csv: bool
) -> None:
    per_second: dict[int, int] = {}
    for s in seconds:
        per_second[s] = per_second.get(s, 0) + 1
    # One second holding the cap cannot be read completely (WindowTooDenseError): keep below it.
    kept = [s for s in seconds if per_second[s] < cap]
    rows = [{"uniqueid": f"u{i}", "calldate": _wall(s), "billsec": i} for i, s in enumerate(kept)]
    STATE.reset()
    STATE.max_rows = cap
    STATE.upsert(rows)
    edges = sorted(BASE + timedelta(seconds=b) for b in boundaries)
    config = RingostatSettings(
        base_url="http://ringostat.test",
        auth_key=SecretStr("demo-key"),
        timezone="UTC",
        max_rows_per_request=cap,
    )

    async def read() -> list[list[dict[str, Any]]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP)) as http:
            client = RingostatClient(
                config, http, sleep=_never_sleep, export_type="csv" if csv else "json"
            )
            return [await client.fetch_window(a, b) for a, b in itertools.pairwise(edges)]

    reads = anyio.run(read)

    merged: dict[str, dict[str, Any]] = {}
    for window_rows in reads:
        ids = [r["uniqueid"] for r in window_rows]
        assert len(ids) == len(set(ids)), "a window returned a call twice"
        for row in window_rows:
            merged[row["uniqueid"]] = row
    first = int((edges[0] - BASE).total_seconds() // 1)
    last = int((edges[-1] - BASE).total_seconds() // 1)
    expected = {
        r["uniqueid"]: str(r["billsec"])
        for r, s in zip(rows, kept, strict=True)
        if first <= s <= last
    }
    assert {k: v["billsec"] for k, v in merged.items()} == expected
    # Neighbouring windows overlap only on their shared boundary second.
    for left, right, edge in zip(reads, reads[1:], edges[1:], strict=False):
        shared = {r["uniqueid"] for r in left} & {r["uniqueid"] for r in right}
        boundary = edge.strftime("%Y-%m-%d %H:%M:%S")
        assert all(merged[u]["calldate"] == boundary for u in shared)
