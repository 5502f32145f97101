"""Terminal output of a sync run's summary (rich tables). No phone numbers are printed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from tasks.reporting.fit import fit_table

GX_OFFLINE_NOTE = (
    "GX loads the Data Docs' styles and scripts from CDNs, so offline they show unstyled; "
    "`callsync report --html FILE` writes a self-contained report"
)

ROW_NAMES = {
    "1": "in · answered · new · mapped",
    "2": "in · answered · new · unmapped",
    "3": "in · answered · existing · E = R",
    "4": "in · answered · existing · E ≠ R",
    "5": "in · answered · existing · unmapped",
    "6": "in · missed · new",
    "7": "in · missed · existing",
    "8": "in · voicemail · new",
    "9": "in · voicemail · existing",
    "10": "out · answered · new",
    "11": "out · answered · existing · mapped",
    "12": "out · answered · existing · unmapped",
    "13": "out · not answered",
}


def _table(
    title: str, header: tuple[str, str], rows: Mapping[str, Any], width: int
) -> RenderableType:
    """A titled two-column table that fits the terminal without splitting a word."""
    return Group(
        Text(title, style="bold"),
        fit_table(
            header,
            [[str(k), str(v)] for k, v in rows.items()],
            numeric=[False, True],
            width=width,
        ),
    )


def print_summary(
    result: Mapping[str, Any],
    console: Console | None = None,
    *,
    data_docs_note: bool = True,
    tz: str | None = None,
) -> None:
    """A run's summary, its window in ``tz`` (the company's time zone) when given;
    ``data_docs_note=False`` leaves out the Data Docs caveat (the demo, which prints several
    summaries, says it once at its end)."""
    out = console or Console()
    if result.get("lease_held"):  # another run holds the store: nothing was done
        out.print(str(result["lease_held"]), markup=False, highlight=False)
        return
    window = f"{result['window_start']} → {result['window_end']}"
    if tz is not None:
        from flows.runtime.run_card import local_window

        window = f"{local_window(result['window_start'], result['window_end'], tz)} ({tz})"
    out.print(
        f"[bold]Window[/bold] {window}: "
        f"{result['rows_read']} rows read, {result['new_calls']} new, "
        f"{result['changed_calls']} changed"
    )
    for problem in result.get("employee_problems") or []:
        out.print(f"[yellow]employee map:[/yellow] {problem}")
    if result.get("by_row"):
        rows = {
            f"{k:>2}  {ROW_NAMES.get(k, '')}": v
            for k, v in sorted(result["by_row"].items(), key=lambda kv: int(kv[0]))
        }
        out.print(_table("Calls by scenario row", ("row", "calls"), rows, out.width))
    if result.get("by_status"):
        out.print(
            _table(
                "Calls by status",
                ("status", "calls"),
                dict(sorted(result["by_status"].items())),
                out.width,
            )
        )
    if result.get("by_reason"):
        out.print(
            _table(
                "Reasons", ("reason", "calls"), dict(sorted(result["by_reason"].items())), out.width
            )
        )
    if result.get("writes"):
        out.print(
            _table(
                "Zoho writes",
                ("module/op/status", "records"),
                dict(sorted(result["writes"].items())),
                out.width,
            )
        )
    out.print(
        f"Zoho API: {result.get('zoho_requests', 0)} requests, {result.get('zoho_credits', 0)} credits"
    )
    failures = result.get("failures") or []
    if failures:
        out.print(
            f"[yellow]{len(failures)} records rejected by Zoho[/yellow] (kept in the ledger):"
        )
        for f in failures[:10]:
            out.print(f"  {f['sync_key']}: {f['code']} {f['message']}")
    if result.get("data_docs"):
        out.print(f"Great Expectations Data Docs: {result['data_docs']}")
        if data_docs_note:
            out.print(f"  ({GX_OFFLINE_NOTE})", style="dim")
    if result.get("duckdb_path"):
        out.print(f"DuckDB reports: {result['duckdb_path']}")
    changed = result.get("changed_after_sync") or []
    if changed:
        out.print(
            f"[yellow]{len(changed)} synced calls came again with other content[/yellow] "
            "(changed_after_sync; their Zoho records are kept):"
        )
        for c in changed[:10]:
            out.print(f"  {c['uniqueid']}: {c['fields']}", markup=False)
    for step, error in sorted((result.get("deferred_steps") or {}).items()):
        out.print(f"[yellow]{step} failed after the writes; the next run does it again:[/yellow]")
        out.print(f"  {error}", markup=False)


def plan_footer(result: Mapping[str, Any], tz: str) -> str:
    """``callsync plan``'s last line: how many calls the window held (0 says so too)."""
    from flows.runtime.run_card import local_window

    count = len(result.get("plans") or [])
    noun = "call" if count == 1 else "calls"
    window = ""
    if result.get("window_start") and result.get("window_end"):
        window = f" {local_window(result['window_start'], result['window_end'], tz)} ({tz})"
    return f"{count} {noun} in the window{window}; nothing was written"
