"""``callsync report`` on the command line: one view or one file per view as CSV, and right after
``callsync demo`` (no config given) the demo's report."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from test_report_render import _landed
from typer.testing import CliRunner

from flows.cli.app import app
from flows.runtime.paths import DEMO_WORKDIR
from tasks.reporting.render import VIEWS


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("CALLSYNC_"):
            monkeypatch.delenv(name)
    duck = _landed(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\nduckdb_path = "{duck}"\n', encoding="utf-8")
    return path


def test_csv_dir_writes_one_file_per_view(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    result = CliRunner().invoke(app, ["report", "--config", str(config), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{v}.csv" for v in VIEWS)
    text = (out / "conversion_by_source.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["utm_source", "utm_medium", "utm_campaign"]
    assert not any(line and line[0].startswith("#") for line in rows)
    assert result.stdout == ""


def test_format_csv_prints_one_view(config: Path) -> None:
    args = ["report", "--config", str(config), "--format", "csv", "--view", "daily_funnel"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][0] == "local_date" and len(rows) == 3  # header + two days


def test_format_csv_without_a_view_names_the_choices(config: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--config", str(config), "--format", "csv"])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("callsync: error: --format csv prints one view")
    assert "--csv DIR" in line and "conversion_by_agent" in line


def test_an_unknown_view_names_the_views(config: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--config", str(config), "--view", "sources"])
    assert result.exit_code == 1
    assert "the views are funnel_totals, conversion_by_source" in result.stderr


def test_view_shows_only_that_view(config: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--config", str(config), "--view", "daily_funnel"])
    assert result.exit_code == 0, result.output
    assert "Daily funnel" in result.stdout and "Conversion by source" not in result.stdout


def test_report_right_after_the_demo_shows_the_demos_report(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "checkout"
    (home / DEMO_WORKDIR).mkdir(parents=True)
    (home / DEMO_WORKDIR / "config.toml").write_bytes(config.read_bytes())
    monkeypatch.chdir(home)
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    assert "showing the demo's report" in result.stderr
    assert "Conversion by source" in result.stdout


def test_report_with_nothing_to_show_names_the_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("CALLSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "no reports at" in line and "`callsync demo` and then `callsync report`" in line
