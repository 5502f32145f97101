"""The terminal summary of a sync run names the employee map's problems (SPEC 4)."""

from __future__ import annotations

from rich.console import Console

from flows.cli.render import print_summary


def test_summary_names_employee_entries_that_map_nobody() -> None:
    console = Console(record=True, width=200)
    problem = (
        "employee entry 'ghost@acme.test' names no Zoho user (by id or email): "
        "its calls are handled as unmapped"
    )
    print_summary(
        {
            "window_start": "2026-01-18T00:00:00+00:00",
            "window_end": "2026-01-18T12:00:00+00:00",
            "rows_read": 3,
            "new_calls": 3,
            "changed_calls": 0,
            "employee_problems": [problem],
        },
        console,
    )
    assert f"employee map: {problem}" in console.export_text()


def test_summary_names_changed_calls_deferred_steps_and_a_held_lease() -> None:
    console = Console(record=True, width=200)
    print_summary(
        {
            "window_start": "2026-01-18T00:00:00+00:00",
            "window_end": "2026-01-18T12:00:00+00:00",
            "rows_read": 3,
            "new_calls": 0,
            "changed_calls": 1,
            "changed_after_sync": [{"uniqueid": "c-7", "fields": "disposition,caller"}],
            "deferred_steps": {"duckdb": "ReportingError: the file is locked"},
        },
        console,
    )
    text = console.export_text()
    assert "c-7: disposition,caller" in text and "changed_after_sync" in text
    assert "duckdb failed after the writes; the next run does it again" in text
    assert "ReportingError: the file is locked" in text

    held = Console(record=True, width=200)
    line = "another callsync run holds this state store (sync run r-1, pid 7 on box, since ...)"
    print_summary({"lease_held": line}, held)
    assert held.export_text().strip() == line
