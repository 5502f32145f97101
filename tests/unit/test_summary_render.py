"""The terminal summary of a sync run names the employee map's problems (SPEC 4)."""

from __future__ import annotations

from rich.console import Console

from flows.render import print_summary


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
