"""A Ringostat answer that is not a call list fails the run; it never counts as "no calls".

A 200 whose body is empty, an object, HTML, an array of non-objects — or, for the CSV export, not
a ``;`` table with a header — used to be read as "no calls": the run exited 0 and moved the cursor
to its start, so the next run's window (cursor − lookback) no longer covered the calls, and only
a hand-run backfill brought them back. Here the emulator answers such a body (its answer
override fault), the real sync flow runs, and: the run fails with one line naming the answer, the
cursor stays where it was, and once Ringostat answers properly the next run reads every call.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from models.settings import RingostatSettings
from tasks.ringostat.client import RingostatClient
from tasks.ringostat.errors import RetriableError
from tasks.store import Store
from tests.flows.conftest import FIXED_NOW, World, prefect_harness, prefect_server, world
from tests.integration.webhook_support import TOP_ONLY

__all__ = ["prefect_harness", "prefect_server", "world"]  # fixtures

pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)

CALLS = 12

BAD_ANSWERS = {
    "empty": ("", "application/json"),
    "blank": ("  \r\n", "application/json"),
    "object": ('{"status": "ok"}', "application/json"),
    "null": ("null", "application/json"),
    "html": ("<html><body>Service Unavailable</body></html>", "text/html"),
    "array-of-numbers": ("[1, 2, 3]", "application/json"),
}
BAD_CSV = {
    "empty": "",
    "blank": "\r\n",
    "html": "<html><body>maintenance</body></html>",
    "json-object": '{"status": "ok"}',
}


def _calls() -> list[dict[str, Any]]:
    """New callers on 2026-03-02 between 09:00 and 10:50 in Kyiv (06:00–07:50 UTC): more than the
    lookback (2 h) before the run's start (12:00 UTC), so a cursor moved to the run's start would
    never read them again."""
    return [
        {
            "uniqueid": f"va-{i:03d}",
            "calldate": f"2026-03-02 {9 + i // 6:02d}:{(i % 6) * 10:02d}:00",
            "call_type": "in",
            "disposition": "NO ANSWER",
            "caller": f"+38050700{i:04d}",
            "dst": "+380441234567",
            "duration": 30,
            "billsec": 0,
        }
        for i in range(CALLS)
    ]


def _cursor(world: World) -> Any:
    with Store(world.store_url) as store:
        return store.get_cursor("ringostat:calls")


@pytest.mark.parametrize("name", sorted(BAD_ANSWERS))
def test_an_answer_that_is_not_a_call_list_fails_the_run_and_the_cursor_stays(
    world: World, name: str
) -> None:
    body, content_type = BAD_ANSWERS[name]
    # No retry inside the client: Prefect's step retries (at once in tests) are enough here.
    world.write_config(ringostat={"max_retries": 0})
    world.seed_zoho(TOP_ONLY)
    world.post_calls(_calls())
    world.http.put(
        f"{world.ringostat_url}/__emulator__/faults",
        json={"answer": {"status": 200, "body": body, "content_type": content_type}},
    ).raise_for_status()

    with pytest.raises(RetriableError) as failed:
        world.sync(as_of=FIXED_NOW)
    line = str(failed.value)
    assert "\n" not in line and "not a" in line and "cursor" in line, line
    assert _cursor(world) is None, "the cursor moved after an answer that was not a call list"
    assert world.dump()["Leads"] == []

    world.http.put(f"{world.ringostat_url}/__emulator__/faults", json={}).raise_for_status()
    result = world.sync(as_of=FIXED_NOW + timedelta(minutes=5))
    assert result["rows_read"] == CALLS
    assert len(world.dump()["Leads"]) == CALLS
    assert _cursor(world) == FIXED_NOW + timedelta(minutes=5)


@pytest.mark.parametrize("name", sorted(BAD_CSV))
def test_a_csv_export_that_is_not_a_table_is_a_failure_not_no_calls(name: str) -> None:
    """The CSV export (the client's other wire format; the flow reads JSON): an answer without a
    header line is not "no calls" either. A header with no rows is a day without calls."""

    async def read(url: str) -> list[dict[str, Any]]:
        settings = RingostatSettings(base_url=url, auth_key="test-key", max_retries=0)
        async with httpx.AsyncClient(timeout=30) as http:
            client = RingostatClient(settings, http, export_type="csv")
            return await client.fetch_window(FIXED_NOW - timedelta(hours=6), FIXED_NOW)

    with BackgroundServer(create_ringostat(auth_key="test-key")) as ringostat:
        empty_day = asyncio.run(read(ringostat.url))
        httpx.put(
            f"{ringostat.url}/__emulator__/faults",
            json={"answer": {"status": 200, "body": BAD_CSV[name], "content_type": "text/csv"}},
        ).raise_for_status()
        with pytest.raises(RetriableError) as failed:
            asyncio.run(read(ringostat.url))
    assert empty_day == []
    assert "not a" in str(failed.value) and "\n" not in str(failed.value)
