"""The command line: --help everywhere, the offline plan, one-line errors with exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli.app import app

DATA = Path(__file__).resolve().parent.parent / "data" / "plan"
COMMANDS = [
    "demo", "sync", "plan", "emulate", "report", "requeue", "doctor", "backfill", "serve", "alerts"
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_offline_plan_prints_the_expected_plan() -> None:
    args = ["plan", "--calls", str(DATA / "calls.json"), "--crm", str(DATA / "crm.json")]
    result = CliRunner().invoke(app, [*args, "--config", str(DATA / "config.toml")])
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    assert printed == expected


def test_offline_plan_warns_of_employee_entries_naming_nobody() -> None:
    fidelity = DATA.parent / "plan-fidelity"
    args = ["plan", "--calls", str(fidelity / "calls.json"), "--crm", str(fidelity / "crm.json")]
    result = CliRunner().invoke(app, [*args, "--config", str(fidelity / "config.toml")])
    assert result.exit_code == 0, result.output
    expected = json.loads((fidelity / "expected.json").read_text(encoding="utf-8"))
    assert [json.loads(line) for line in result.stdout.splitlines()] == expected
    assert result.stderr.splitlines() == [
        "callsync: warning: employee map: employee entry 'ghost@example.com' names no Zoho "
        "user (by id or email): its calls are handled as unmapped"
    ]


def test_a_malformed_input_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "calls.json"
    bad.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "--calls",
            str(bad),
            "--crm",
            str(DATA / "crm.json"),
            "--config",
            str(DATA / "config.toml"),
        ],
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("callsync: error: ") and "calls.json" in lines[0]


def test_a_bad_config_key_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[scenario]\nmatch_digit = 9\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["requeue", "--config", str(config)])
    assert result.exit_code == 1
    assert "unknown key 'scenario.match_digit'" in result.stderr


def test_plan_needs_both_files() -> None:
    result = CliRunner().invoke(app, ["plan", "--calls", str(DATA / "calls.json")])
    assert result.exit_code == 1
    assert "--calls and --crm go together" in result.stderr
