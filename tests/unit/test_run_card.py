"""What a run tells the operator in the UI: its name and its summary, in the company's time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flows.runtime.run_card import (
    local_window,
    name_failed_run,
    name_run,
    summary_markdown,
    summary_rows,
)

KYIV = "Europe/Kyiv"
STARTED = datetime(2026, 3, 2, 15, 45, 12, 123456, tzinfo=UTC)  # 17:45 in Kyiv (UTC+2)


def summary(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": "r",
        "window_start": "2026-03-02T13:45:00.123456+00:00",
        "window_end": "2026-03-02T15:45:12.654321+00:00",
        "rows_read": 5,
        "new_calls": 3,
        "changed_calls": 1,
        "by_status": {"synced": 3, "skipped": 1, "quarantined": 1},
        "by_reason": {"outbound_not_answered": 1, "bad_calldate": 1},
        "by_row": {"1": 2, "13": 1, "6": 1},
        "writes": {"Leads/insert/success": 2, "Tasks/insert/success": 3},
        "failures": [],
        "quarantined": [{"uniqueid": "u-9", "reason": "bad_calldate"}],
        "zoho_requests": 4,
        "zoho_credits": 5,
    }
    return base | values


def test_the_name_says_what_the_run_did_at_local_time() -> None:
    assert (
        name_run("sync", summary(quarantined=[]), started_at=STARTED, tz=KYIV)
        == "sync 17:45 · 3 new calls"
    )
    assert name_run("sync", summary(new_calls=1, quarantined=[]), started_at=STARTED, tz=KYIV) == (
        "sync 17:45 · 1 new call"
    )
    quiet = summary(new_calls=0, quarantined=[])
    assert name_run("sync", quiet, started_at=STARTED, tz=KYIV) == "sync 17:45 · no new calls"
    assert name_run("sync", summary(), started_at=STARTED, tz="UTC") == (
        "sync 15:45 · 3 new calls · 1 quarantined"
    )


def test_the_name_shows_problems_a_stop_a_retry_and_a_held_lease() -> None:
    troubled = summary(
        failures=[{"uniqueid": "u", "sync_key": "u/lead", "code": "INVALID_DATA", "message": "x"}],
        stopped="credits_exhausted: the daily limit",
    )
    assert name_run("sync", troubled, started_at=STARTED, tz=KYIV, attempt=2) == (
        "sync 17:45 · 3 new calls · 1 rejected · 1 quarantined · stopped: credits spent · attempt 2"
    )
    held = {"lease_held": "sync r-1 holds the store since 17:40"}
    assert name_run("sync", held, started_at=STARTED, tz=KYIV) == (
        "sync 17:45 · another run holds the store"
    )


def test_a_backfill_names_its_range() -> None:
    days = summary(
        window_start="2026-02-27T22:00:00+00:00",
        window_end="2026-03-01T21:59:59+00:00",
        new_calls=120,
        quarantined=[],
    )
    assert name_run("backfill", days, started_at=STARTED, tz=KYIV) == (
        "backfill 17:45 · 02-28 → 03-01 · 120 new calls"
    )


def test_a_failed_run_says_why() -> None:
    message = "Flow run encountered an exception: AuthError: Zoho refused the refresh token\nmore"
    assert name_failed_run("sync", started_at=STARTED, tz=KYIV, message=message) == (
        "sync 17:45 · failed: AuthError: Zoho refused the refresh token"
    )
    long = name_failed_run("sync", started_at=STARTED, tz=KYIV, message="x" * 200, attempt=3)
    assert long == "sync 17:45 · failed: " + "x" * 79 + "… · attempt 3"


def test_the_summary_table_is_local_time_and_plain_values() -> None:
    rows = summary_rows(summary(), KYIV)
    assert rows[0] == {"section": "window", "item": "2026-03-02 15:45 → 17:45", "count": KYIV}
    items = {(r["section"], r["item"]): r["count"] for r in rows}
    assert items[("calls", "new")] == "3"
    assert items[("status", "synced")] == "3"
    assert items[("reason", "bad_calldate")] == "1"
    assert items[("scenario row", "13 out · not answered")] == "1"
    assert items[("Zoho writes", "Leads insert: success")] == "2"
    assert items[("Zoho API", "credits")] == "5"
    assert items[("problems", "quarantined")] == "1"
    text = repr(rows)
    assert "123456" not in text and "654321" not in text and "+00:00" not in text
    assert all(isinstance(v, str) for r in rows for v in r.values())


def test_the_report_is_markdown_tables_without_python_values() -> None:
    text = summary_markdown(summary(data_docs="/x/index.html"), KYIV)
    lines = text.splitlines()
    assert lines[0] == "# Sync 2026-03-02 15:45 → 17:45 (Europe/Kyiv)"
    assert "| Zoho writes | count |" in lines
    assert "| Tasks insert: success | 3 |" in lines
    assert "| 1 in · answered · new · mapped | 2 |" in lines
    assert "| u-9 | bad_calldate |" in lines
    assert "{'" not in text and "': " not in text  # no Python dict
    assert "654321" not in text and "T15:45" not in text


def test_a_window_over_midnight_shows_both_dates() -> None:
    assert local_window("2026-03-01T21:30:00+00:00", "2026-03-01T22:30:00+00:00", KYIV) == (
        "2026-03-01 23:30 → 2026-03-02 00:30"
    )


def test_the_terminal_summary_shows_the_window_in_local_time_and_the_caveat_when_asked() -> None:
    from rich.console import Console

    from flows.cli.render import print_summary

    console = Console(record=True, width=120)
    print_summary(summary(data_docs="/x/index.html"), console, tz=KYIV)
    print_summary(summary(data_docs="/x/index.html"), console, tz=KYIV, data_docs_note=False)
    text = console.export_text()
    assert text.count("Window 2026-03-02 15:45 → 17:45 (Europe/Kyiv): 5 rows read, 3 new") == 2
    assert text.count("show unstyled") == 1
