"""Read the conversion analytics from the DuckDB file and render them for people and programs.

:func:`load_report` runs the ``*_between`` macros of :mod:`tasks.reporting.views` for a period
(half-open ``[date_from, date_to)`` on the call's start; None = unbounded) and returns a
:class:`Report`. Renderers:

- :func:`render_terminal` — rich tables (rates as percentages, times in the company zone, the
  missed-call list cut to the newest ``max_rows``);
- :func:`to_json` — one object, one key per result set (lists of row objects; the one-row
  summaries as objects); datetimes ISO 8601 with the company zone's offset;
- :func:`to_csv` — one view as a CSV document (header, rows); :func:`write_csv_files` writes
  every view to its own ``<view>.csv`` in a directory;
- :func:`to_html` — ONE self-contained file: inline CSS, the charts drawn as inline SVG by
  :mod:`tasks.reporting.charts` (funnel, conversion by source, time to callback), no script,
  no link, no image, no font, no URL other than text that is data.

Reports show masked client numbers only (``***4567``); the DuckDB file itself holds full ones.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from rich.console import Console
from rich.text import Text

from tasks.reporting import charts
from tasks.reporting.fit import fit_table
from tasks.reporting.land import ReportingError
from tasks.reporting.views import query_between

RATE_COLUMNS = frozenset({"conversion_rate", "never_called_back_share"})
MONEY_COLUMNS = frozenset({"won_amount"})
MINUTE_COLUMNS = frozenset({"delay_minutes", "median_delay_minutes", "avg_delay_minutes"})


@dataclass(frozen=True, slots=True)
class ResultSet:
    """One query result: column names and rows, in the order the view returns them."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


@dataclass(frozen=True, slots=True)
class Report:
    """The four result sets (plus the two one-row summaries) of one period."""

    date_from: datetime | None
    date_to: datetime | None
    company_timezone: str
    landed_at: datetime | None
    conversion_by_source: ResultSet
    conversion_by_agent: ResultSet
    missed_call_callbacks: ResultSet
    missed_call_callbacks_summary: ResultSet
    daily_funnel: ResultSet
    funnel_totals: ResultSet

    def tables(self) -> list[ResultSet]:
        return [
            self.funnel_totals,
            self.conversion_by_source,
            self.conversion_by_agent,
            self.daily_funnel,
            self.missed_call_callbacks_summary,
            self.missed_call_callbacks,
        ]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.company_timezone)


def load_report(
    duckdb_path: Path, *, date_from: datetime | None, date_to: datetime | None
) -> Report:
    """Query the landed views for ``[date_from, date_to)``; bounds must be aware or None."""
    path = Path(duckdb_path)
    if not path.is_file():
        raise ReportingError(f"no report data at {path}: run a sync first")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ReportingError(f"cannot open the reporting file {path}: {exc}") from exc
    try:
        meta = con.execute("SELECT company_timezone, landed_at FROM report_meta").fetchone()
        sets = {}
        for name in (
            "conversion_by_source",
            "conversion_by_agent",
            "missed_call_callbacks",
            "missed_call_callbacks_summary",
            "daily_funnel",
            "funnel_totals",
        ):
            columns, rows = query_between(con, name, date_from, date_to)
            sets[name] = ResultSet(name, tuple(columns), tuple(tuple(r) for r in rows))
    except duckdb.Error as exc:
        raise ReportingError(f"{path} is not a landed callsync report: {exc}") from exc
    finally:
        con.close()
    timezone, landed_at = meta if meta else ("UTC", None)
    return Report(
        date_from=date_from,
        date_to=date_to,
        company_timezone=str(timezone),
        landed_at=landed_at,
        **sets,
    )


# --- values ------------------------------------------------------------------------------------


def plain_value(value: Any, zone: ZoneInfo) -> Any:
    """A JSON/CSV-ready value: datetimes in the company zone (ISO), dates ISO, others as is."""
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def display_value(column: str, value: Any, zone: ZoneInfo) -> str:
    """How a person reads the value: rates in %, money with separators, times in the zone."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = value.astimezone(zone) if value.tzinfo else value
        return local.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if column in RATE_COLUMNS:
            return f"{value:.1%}"
        if column in MONEY_COLUMNS:
            return f"{value:,.2f}"
        if column in MINUTE_COLUMNS:
            return f"{value:,.1f}"
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    return str(value)


def _period(report: Report) -> str:
    zone = report.zone

    def show(bound: datetime | None, missing: str) -> str:
        return missing if bound is None else bound.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return (
        f"{show(report.date_from, 'the beginning')} → {show(report.date_to, 'now')} "
        f"({report.company_timezone})"
    )


TITLES = {
    "funnel_totals": "Funnel (whole period)",
    "conversion_by_source": "Conversion by source",
    "conversion_by_agent": "Conversion by agent",
    "daily_funnel": "Daily funnel",
    "missed_call_callbacks_summary": "Missed calls: callbacks",
    "missed_call_callbacks": "Missed calls",
}


# --- terminal ----------------------------------------------------------------------------------


# Wide views: a terminal gets the columns a person acts on (JSON and CSV have them all).
_TERMINAL_COLUMNS = {
    "conversion_by_source": (
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "calls",
        "new_callers",
        "leads_created",
        "leads_converted",
        "conversion_rate",
    ),
    "conversion_by_agent": (
        "user_name",
        "calls_answered",
        "inbound_answered",
        "outbound_answered",
        "new_leads",
        "leads_converted",
        "deals_won",
        "won_amount",
    ),
    "missed_call_callbacks": (
        "missed_at",
        "outcome",
        "client_masked",
        "called_back_by",
        "callback_at",
        "callback_user_name",
        "delay_minutes",
    ),
}


# Short column titles for the terminal (the vertical layout and JSON/CSV keep the full names).
_SHORT = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "campaign",
    "new_callers": "new callers",
    "leads_created": "leads",
    "leads_converted": "conv.",
    "conversion_rate": "rate",
    "user_name": "agent",
    "calls_answered": "answered",
    "inbound_answered": "in",
    "outbound_answered": "out",
    "new_leads": "new leads",
    "deals_won": "won",
    "won_amount": "amount",
    "local_date": "date",
    "missed_calls": "missed",
    "called_back": "called back",
    "never_called_back": "never",
    "never_called_back_share": "never %",
    "median_delay_minutes": "median min",
    "avg_delay_minutes": "mean min",
    "missed_at": "missed at",
    "client_masked": "client",
    "callback_at": "callback at",
    "callback_direction": "direction",
    "called_back_by": "how",
    "callback_user_name": "by",
    "delay_minutes": "delay min",
}


def render_terminal(
    report: Report, console: Console, *, max_rows: int = 30, views: Sequence[str] | None = None
) -> None:
    """Print the report as tables that fit ``console.width`` (80 when output is not a
    terminal) without splitting a word: short headers, text wrapped at spaces, and when even
    that is too wide, one block per row (see :mod:`tasks.reporting.fit`). The missed-call list
    shows the newest ``max_rows``. ``views`` (default: all) names the result sets to print.
    """
    console.print(Text.assemble(("callsync report", "bold"), f" — {_period(report)}"))
    if report.landed_at is not None:
        console.print(Text(f"data landed at {display_value('', report.landed_at, report.zone)}"))
    for result in report.tables():
        if views is not None and result.name not in views:
            continue
        columns = _TERMINAL_COLUMNS.get(result.name, result.columns)
        if not set(columns) <= set(result.columns):
            columns = result.columns
        picks = [result.columns.index(c) for c in columns]
        rows = result.rows
        caption = None
        if result.name == "missed_call_callbacks" and len(rows) > max_rows:
            caption = f"newest {max_rows} of {len(rows)} missed calls"
            rows = rows[-max_rows:]
        cells = [
            [display_value(c, row[i], report.zone) for i, c in zip(picks, columns, strict=True)]
            for row in rows
        ]
        console.print(Text(TITLES[result.name], style="bold"))
        console.print(
            fit_table(
                [_SHORT.get(c, c.replace("_", " ")) for c in columns],
                cells,
                numeric=[any(_is_number(r[i]) for r in rows) for i in picks],
                width=console.width,
                labels=[c.replace("_", " ") for c in columns],
            )
        )
        if caption:
            console.print(Text(caption, style="dim"))


# --- JSON and CSV ------------------------------------------------------------------------------

_ONE_ROW = frozenset({"missed_call_callbacks_summary", "funnel_totals"})


def to_json(report: Report, *, view_name: str | None = None) -> str:
    """The report as one JSON object (see the module docstring); with ``view_name``, that view
    alone (a list of row objects, or one object for the one-row summaries)."""
    zone = report.zone
    if view_name is not None:
        result = view(report, view_name)
        records = [{k: plain_value(v, zone) for k, v in r.items()} for r in result.records()]
        one = (records[0] if records else None) if result.name in _ONE_ROW else records
        return json.dumps(one, ensure_ascii=False, indent=2)
    out: dict[str, Any] = {
        "date_from": plain_value(report.date_from, zone),
        "date_to": plain_value(report.date_to, zone),
        "company_timezone": report.company_timezone,
        "landed_at": plain_value(report.landed_at, zone),
    }
    for result in report.tables():
        records = [{k: plain_value(v, zone) for k, v in r.items()} for r in result.records()]
        out[result.name] = (records[0] if records else None) if result.name in _ONE_ROW else records
    return json.dumps(out, ensure_ascii=False, indent=2)


VIEWS = (
    "funnel_totals",
    "conversion_by_source",
    "conversion_by_agent",
    "daily_funnel",
    "missed_call_callbacks_summary",
    "missed_call_callbacks",
)
"""The names of the result sets, in the order every renderer shows them."""


def view(report: Report, name: str) -> ResultSet:
    """One result set by name; :class:`ValueError` naming the choices for an unknown one."""
    for result in report.tables():
        if result.name == name:
            return result
    raise ValueError(f"no view {name!r}: the views are " + ", ".join(VIEWS))


def to_csv(result: ResultSet, zone: ZoneInfo) -> str:
    """One view as a CSV document: the header, then the rows (NULL = empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else plain_value(v, zone) for v in row])
    return buffer.getvalue()


def write_csv_files(
    report: Report, directory: Path, views: Sequence[str] | None = None
) -> list[Path]:
    """Every view (or those named) as ``<directory>/<view>.csv``, the directory created;
    returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for result in report.tables():
        if views is not None and result.name not in views:
            continue
        path = directory / f"{result.name}.csv"
        path.write_text(to_csv(result, report.zone), encoding="utf-8", newline="")
        written.append(path)
    return written


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #eef2f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #666; }
figure { margin: 1em 0; max-width: 700px; }
"""


def _html_table(result: ResultSet, zone: ZoneInfo) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in result.columns)
    body = []
    for row in result.rows:
        cells = []
        for column, value in zip(result.columns, row, strict=True):
            cls = ' class="num"' if _is_number(value) else ""
            cells.append(f"<td{cls}>{escape(display_value(column, value, zone))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(result.columns)}">no rows</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _funnel_chart(report: Report) -> str:
    totals = report.funnel_totals.records()
    row = totals[0] if totals else {}
    stages = [
        ("Calls", "calls"),
        ("Callers", "callers"),
        ("New callers", "new_callers"),
        ("Leads created", "leads_created"),
        ("Leads converted", "leads_converted"),
        ("Deals won", "deals_won"),
    ]
    return charts.funnel_svg(
        [(label, float(row.get(key) or 0)) for label, key in stages], title="Call-to-deal funnel"
    )


def _source_chart(report: Report, limit: int = 15) -> str:
    items: list[tuple[str, float | None]] = [
        (f"{r['utm_source']} / {r['utm_medium']} / {r['utm_campaign']}", r["conversion_rate"])
        for r in report.conversion_by_source.records()[:limit]
    ]
    return charts.bars_svg(
        items,
        title="Lead conversion rate by source",
        fmt=lambda v: f"{v:.0%}",
        max_value=1.0,
        missing="no leads",
    )


def _callback_chart(report: Report) -> str:
    buckets = charts.callback_buckets(report.missed_call_callbacks.column("delay_minutes"))
    return charts.histogram_svg(buckets, title="Time to callback after a missed call")


def to_html(report: Report) -> str:
    """ONE self-contained HTML page (see the module docstring)."""
    zone = report.zone
    sections: list[str] = []

    def section(title: str, *parts: str) -> None:
        sections.append(f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>")

    section(
        TITLES["funnel_totals"],
        f"<figure>{_funnel_chart(report)}</figure>",
        _html_table(report.funnel_totals, zone),
    )
    section(
        TITLES["conversion_by_source"],
        f"<figure>{_source_chart(report)}</figure>",
        _html_table(report.conversion_by_source, zone),
    )
    section(TITLES["conversion_by_agent"], _html_table(report.conversion_by_agent, zone))
    section(TITLES["daily_funnel"], _html_table(report.daily_funnel, zone))
    section(
        TITLES["missed_call_callbacks_summary"],
        f"<figure>{_callback_chart(report)}</figure>",
        _html_table(report.missed_call_callbacks_summary, zone),
        _html_table(report.missed_call_callbacks, zone),
    )
    landed = (
        f" · data landed at {escape(display_value('', report.landed_at, zone))}"
        if report.landed_at is not None
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>callsync report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>callsync: call-to-lead conversion</h1>"
        f'<p class="meta">{escape(_period(report))}{landed}</p>'
        + "".join(sections)
        + "</body></html>\n"
    )
