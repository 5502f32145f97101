"""Rendering the report: terminal (rich), JSON, CSV, and one self-contained HTML file."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlmodel import Session, SQLModel, create_engine

from models.tables import CallRecord, CrmIndexRecord, WriteRecord
from tasks.reporting.charts import callback_buckets
from tasks.reporting.land import ReportingError, land_reports
from tasks.reporting.render import (
    VIEWS,
    Report,
    ResultSet,
    display_value,
    load_report,
    render_terminal,
    to_csv,
    to_html,
    to_json,
    write_csv_files,
)

KYIV = ZoneInfo("Europe/Kyiv")
EVIL = '<script>alert("x")</script>'
URL_SOURCE = "https://ads.example.com/landing?a=1"


def rs(name: str, columns: str, *rows: tuple[Any, ...]) -> ResultSet:
    return ResultSet(name, tuple(columns.split()), tuple(rows))


def sample_report() -> Report:
    return Report(
        date_from=datetime(2024, 3, 1, tzinfo=KYIV),
        date_to=None,
        company_timezone="Europe/Kyiv",
        landed_at=datetime(2024, 3, 4, 10, 0, tzinfo=UTC),
        conversion_by_source=rs(
            "conversion_by_source",
            "utm_source utm_medium utm_campaign calls callers new_callers leads_created"
            " leads_converted conversion_rate",
            ("google", "cpc", "spring", 4, 3, 3, 3, 2, 2 / 3),
            (URL_SOURCE, "referral", "(none)", 2, 2, 1, 1, 1, 1.0),
            (EVIL, "(none)", "(none)", 1, 1, 0, 0, 0, None),
        ),
        conversion_by_agent=rs(
            "conversion_by_agent",
            "user_id calls_answered inbound_answered outbound_answered new_leads"
            " leads_converted deals_won won_amount",
            ("u-anna", 3, 3, 0, 3, 2, 2, 1500.5),
            ("(unmapped)", 1, 1, 0, 0, 0, 0, 0.0),
        ),
        missed_call_callbacks=rs(
            "missed_call_callbacks",
            "uniqueid missed_at local_date outcome client_masked utm_source callback_task_id"
            " callback_task_status called_back called_back_by callback_uniqueid callback_at"
            " callback_direction callback_user_id callback_user_name delay_minutes",
            (
                "c02",
                datetime(2024, 3, 1, 9, tzinfo=UTC),
                date(2024, 3, 1),
                "missed",
                "***2222",
                "google",
                "T2",
                "completed",
                True,
                "call",
                "c03",
                datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
                "outbound",
                "u-boris",
                "Boris Bondar",
                30.0,
            ),
            (
                "c04",
                datetime(2024, 3, 1, 22, 30, tzinfo=UTC),
                date(2024, 3, 2),
                "voicemail",
                "***3333",
                "(direct)",
                "T4",
                "open",
                False,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ),
            (
                "c08",
                datetime(2024, 3, 2, 12, tzinfo=UTC),
                date(2024, 3, 2),
                "missed",
                "***5555",
                "facebook",
                None,
                None,
                True,
                "later call",
                "c09",
                datetime(2024, 3, 2, 13, tzinfo=UTC),
                "inbound",
                "u-anna",
                "Anna Ivanova",
                60.0,
            ),
        ),
        missed_call_callbacks_summary=rs(
            "missed_call_callbacks_summary",
            "missed_calls called_back never_called_back never_called_back_share"
            " median_delay_minutes avg_delay_minutes",
            (3, 2, 1, 1 / 3, 45.0, 45.0),
        ),
        daily_funnel=rs(
            "daily_funnel",
            "local_date calls callers new_callers leads_created leads_converted deals_won"
            " won_amount",
            (date(2024, 3, 1), 3, 2, 2, 2, 1, 1, 1000.0),
            (date(2024, 3, 2), 5, 3, 3, 3, 2, 2, 700.5),
        ),
        funnel_totals=rs(
            "funnel_totals",
            "calls callers new_callers leads_created leads_converted deals_won won_amount",
            (9, 5, 5, 5, 3, 3, 1700.5),
        ),
    )


def test_terminal() -> None:
    console = Console(record=True, width=200, color_system=None)
    render_terminal(sample_report(), console)
    text = console.export_text()
    for expected in (
        "callsync report",
        "2024-03-01 00:00 → now (Europe/Kyiv)",
        "data landed at 2024-03-04 12:00",  # 10:00 UTC in Kyiv
        "Conversion by source",
        "66.7%",
        "100.0%",
        "Conversion by agent",
        "1,500.50",
        "Daily funnel",
        "Missed calls: callbacks",
        "33.3%",
        "***2222",
        "2024-03-01 11:30",  # the callback time, in Kyiv
    ):
        assert expected in text, expected
    assert "+380" not in text


def test_terminal_cuts_the_missed_call_list_to_the_newest_rows() -> None:
    console = Console(record=True, width=200, color_system=None)
    render_terminal(sample_report(), console, max_rows=1)
    text = console.export_text()
    assert "newest 1 of 3 missed calls" in text
    assert "***5555" in text and "***2222" not in text


def test_json() -> None:
    data = json.loads(to_json(sample_report()))
    assert data["date_from"] == "2024-03-01T00:00:00+02:00"
    assert data["date_to"] is None
    assert data["company_timezone"] == "Europe/Kyiv"
    assert data["conversion_by_source"][0] == {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "calls": 4,
        "callers": 3,
        "new_callers": 3,
        "leads_created": 3,
        "leads_converted": 2,
        "conversion_rate": pytest.approx(2 / 3),
    }
    assert data["conversion_by_source"][2]["conversion_rate"] is None
    assert data["funnel_totals"]["won_amount"] == 1700.5
    assert data["missed_call_callbacks_summary"]["never_called_back"] == 1
    first = data["missed_call_callbacks"][0]
    assert first["callback_at"] == "2024-03-01T11:30:00+02:00"
    assert first["local_date"] == "2024-03-01"
    assert [d["local_date"] for d in data["daily_funnel"]] == ["2024-03-01", "2024-03-02"]


def test_csv_is_one_document_per_view(tmp_path: Path) -> None:
    report = sample_report()
    source = list(csv.reader(io.StringIO(to_csv(report.conversion_by_source, report.zone))))
    assert source[0][:3] == ["utm_source", "utm_medium", "utm_campaign"]
    assert source[1][:8] == ["google", "cpc", "spring", "4", "3", "3", "3", "2"]
    assert source[3][0] == EVIL and source[3][-1] == ""  # NULL rate: empty cell
    missed = list(csv.reader(io.StringIO(to_csv(report.missed_call_callbacks, report.zone))))
    # never called back: its task still open, the callback columns empty
    assert missed[2][6:9] == ["T4", "open", "False"]
    assert missed[2][9:] == ["", "", "", "", "", "", ""]
    files = write_csv_files(report, tmp_path / "out")
    assert [f.name for f in files] == [f"{v}.csv" for v in VIEWS]
    assert files[1].read_text(encoding="utf-8") == to_csv(report.conversion_by_source, report.zone)


class _Audit(HTMLParser):
    """Collects what could make a page load something from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.styles: list[str] = []
        self._in_style = False
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.svgs += tag == "svg"
        self.attributes.extend((k, v or "") for k, v in attrs)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def test_html_is_one_self_contained_file() -> None:
    html = to_html(sample_report())
    audit = _Audit()
    audit.feed(html)
    assert audit.svgs == 3  # funnel, conversion by source, time to callback
    assert not {"script", "link", "img", "iframe", "object", "embed", "base"} & set(audit.tags)
    for name, value in audit.attributes:
        assert not name.startswith("on"), name
        lowered = value.strip().lower()
        assert "http:" not in lowered and "https:" not in lowered, (name, value)
        assert not lowered.startswith("//") and "url(" not in lowered, (name, value)
        assert name not in {"src", "href", "xlink:href", "srcset", "action"}, name
    css = "".join(audit.styles).lower()
    assert "url(" not in css and "@import" not in css and "http" not in css
    # The data that looks like markup or a URL is there, as text only.
    assert "&lt;script&gt;" in html
    assert URL_SOURCE.replace("&", "&amp;") in html


def test_html_shows_the_numbers_and_the_charts_content() -> None:
    html = to_html(sample_report())
    assert "66.7%" in html and "1,500.50" in html and "***3333" in html
    assert "Call-to-deal funnel" in html
    assert "Lead conversion rate by source" in html
    assert "no leads" in html  # the source without leads has no bar, and says why
    assert "+380" not in html


def test_callback_buckets() -> None:
    assert callback_buckets([0.5, 4.99, 5.0, 30.0, 60.0, 239.0, 1439.0, 2000.0, None, None]) == [
        ("< 5 min", 2),
        ("5–15 min", 1),
        ("15–60 min", 1),
        ("1–4 h", 2),
        ("4–24 h", 1),
        ("> 1 day", 1),
        ("never", 2),
    ]


def test_empty_report_renders_everywhere() -> None:
    empty = Report(
        date_from=None,
        date_to=None,
        company_timezone="UTC",
        landed_at=None,
        **{t.name: ResultSet(t.name, t.columns, ()) for t in sample_report().tables()},
    )
    console = Console(record=True, width=200, color_system=None)
    render_terminal(empty, console)
    assert "the beginning → now (UTC)" in console.export_text()
    assert json.loads(to_json(empty))["funnel_totals"] is None
    assert to_csv(empty.daily_funnel, empty.zone).startswith("local_date,calls")
    assert to_html(empty).count("<svg") == 3


def _landed(tmp_path: Path) -> Path:
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        for uid, when, outcome, key, src in [
            ("x1", datetime(2024, 3, 1, 8, tzinfo=UTC), "answered", "501111111", "google"),
            ("x2", datetime(2024, 3, 5, 8, tzinfo=UTC), "missed", "502222222", None),
        ]:
            s.add(
                CallRecord(
                    uniqueid=uid, status="synced", fingerprint=uid, raw_json="{}",
                    started_at=when, ended_at=when, direction="inbound", outcome=outcome,
                    client_e164="+380" + key, phone_key=key, client_status="new",
                    utm_source=src, first_seen_at=when, updated_at=when,
                )
            )  # fmt: skip
        s.add(
            WriteRecord(
                sync_key="x1/lead", uniqueid="x1", module="Leads", op="insert", kind="lead",
                owner_id="u1", zoho_id="L1", status="success", payload_json="{}",
                created_at=datetime(2024, 3, 1, tzinfo=UTC), updated_at=datetime(2024, 3, 1, tzinfo=UTC),
            )
        )  # fmt: skip
        s.add(
            CrmIndexRecord(
                module="Leads", id="L1", owner_id="u1", converted=True,
                modified_time=datetime(2024, 3, 2, tzinfo=UTC),
            )
        )  # fmt: skip
        s.commit()
    path = tmp_path / "r.duckdb"
    land_reports(
        engine, path, company_timezone="Europe/Kyiv", clock=lambda: datetime(2024, 3, 6, tzinfo=UTC)
    )
    return path


def test_load_report_reads_the_landed_views_for_a_period(tmp_path: Path) -> None:
    path = _landed(tmp_path)
    everything = load_report(path, date_from=None, date_to=None)
    assert everything.company_timezone == "Europe/Kyiv"
    assert everything.landed_at == datetime(2024, 3, 6, tzinfo=UTC)
    assert everything.funnel_totals.rows == ((2, 2, 2, 1, 1, 0, 0.0),)
    assert everything.conversion_by_source.column("utm_source") == ["(direct)", "google"]
    assert everything.missed_call_callbacks.column("uniqueid") == ["x2"]

    march_1_to_4 = load_report(
        path, date_from=datetime(2024, 3, 1, tzinfo=KYIV), date_to=datetime(2024, 3, 5, tzinfo=KYIV)
    )
    assert march_1_to_4.funnel_totals.rows == ((1, 1, 1, 1, 1, 0, 0.0),)
    assert march_1_to_4.conversion_by_source.records()[0]["conversion_rate"] == 1.0
    assert march_1_to_4.missed_call_callbacks.rows == ()
    assert "google" in to_html(march_1_to_4)


def test_load_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportingError, match="run a sync first"):
        load_report(tmp_path / "missing.duckdb", date_from=None, date_to=None)
    import duckdb

    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(ReportingError, match="not a landed callsync report"):
        load_report(other, date_from=None, date_to=None)


def test_terminal_prints_data_literally_never_as_markup() -> None:
    report = sample_report()
    sources = ResultSet(
        "conversion_by_source",
        report.conversion_by_source.columns,
        (("[bold red]boom[/]", "cpc", "(none)", 1, 1, 1, 0, 0, None),),
    )
    console = Console(record=True, width=200, color_system=None)
    render_terminal(dataclasses.replace(report, conversion_by_source=sources), console)
    assert "[bold red]boom[/]" in console.export_text()


# --- 80 columns: never a split word ------------------------------------------------------------


def _words_of_cells(report: Report) -> set[str]:
    words: set[str] = set()
    for result in report.tables():
        for row in result.rows:
            for column, value in zip(result.columns, row, strict=True):
                hidden = (
                    "uniqueid",
                    "callback_uniqueid",
                    "user_id",
                    "callback_user_id",
                    "callback_task_id",
                    "callback_task_status",
                    "called_back",
                    "callback_direction",
                )
                if column in hidden or (result.name, column) == (
                    "missed_call_callbacks",
                    "utm_source",
                ):
                    continue  # not among the columns a terminal shows
                words.update(display_value(column, value, report.zone).split())
    return words


def _agents(*names: str) -> ResultSet:
    return rs(
        "conversion_by_agent",
        "user_id user_name calls_answered inbound_answered outbound_answered new_leads"
        " leads_converted deals_won won_amount",
        *((f"u{i}", name, 8, 7, 1, 3, 2, 0, 1250.0) for i, name in enumerate(names)),
    )


@pytest.mark.parametrize("width", [80, 60, 40])
def test_terminal_fits_the_width_and_never_splits_a_word(width: int) -> None:
    report = dataclasses.replace(
        sample_report(), conversion_by_agent=_agents("Serhii Polishchuk", "Natalia Tkachenko")
    )
    console = Console(record=True, width=width, color_system=None)
    render_terminal(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    tokens = set(text.split())
    # A word longer than the value column of the vertical layout cannot be kept whole.
    missing = {w for w in _words_of_cells(report) if w not in tokens and len(w) <= width - 25}
    assert not missing, missing


def test_at_80_columns_the_agents_stay_a_table_and_a_too_wide_view_goes_vertical() -> None:
    report = dataclasses.replace(
        sample_report(), conversion_by_agent=_agents("Serhii Polishchuk", "Natalia Tkachenko")
    )
    console = Console(record=True, width=80, color_system=None)
    render_terminal(report, console)
    text = console.export_text()
    assert any(
        line.startswith("Serhii Polishchuk ") and line.rstrip().endswith("1,250.00")
        for line in text.splitlines()
    ), text
    # The sources hold a 35-character URL: no table of 8 columns fits, one block per row does.
    assert "— 1 of 3" in text and "utm source" in text


def test_the_sync_summary_fits_80_columns() -> None:
    from flows.cli.render import print_summary

    console = Console(record=True, width=80, color_system=None)
    print_summary(
        {
            "window_start": "2026-03-02T07:00:00+00:00",
            "window_end": "2026-03-02T12:00:00+00:00",
            "rows_read": 13,
            "new_calls": 13,
            "changed_calls": 0,
            "by_row": {str(n): 1 for n in range(1, 14)},
            "by_status": {"synced": 12, "skipped": 1},
            "by_reason": {"failed expectation expect_column_values_to_match_regex": 1},
            "writes": {"Leads/insert/success": 3, "Tasks/insert/success": 10},
        },
        console,
    )
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "expect_column_values_to_match_regex" in text.split()
    assert "Leads/insert/success" in text
