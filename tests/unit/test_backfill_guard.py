"""``callsync backfill`` shows what it is about to write and asks first; absurd ranges are one line.

The checks run before Prefect is imported (the command-line cases run in a fresh interpreter
that reports whether it was); the question is answered through the command's standard input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.cli.backfill_guard import (
    MAX_WINDOWS,
    BackfillRefused,
    plan_backfill,
    refuse_without_yes,
)
from models.settings import Settings, load_settings
from tasks.timeparse import TimeError

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _settings(employees: int = 1) -> Settings:
    entries = [{"zoho_user": f"u{n}@acme.test", "sip": [f"s{n}"]} for n in range(employees)]
    return load_settings(
        None, overrides={"employees": entries, "scenario": {"top_manager": "top@acme.test"}}
    )


def test_the_plan_shows_the_range_in_local_time_and_the_windows() -> None:
    plan = plan_backfill(_settings(), "2026-02-01", "2026-02-10", 6, now=NOW)
    assert plan.windows == 40 and round(plan.days, 2) == 10.0
    lines = plan.describe()
    assert lines[0] == (
        "backfill 2026-02-01 00:00 → 2026-02-10 23:59 Europe/Kyiv (10.0 days) in 40 windows of 6 h"
    )
    assert "permanent records" in lines[1]
    assert plan.asks and not plan.needs_yes  # over a week: asks
    short = plan_backfill(_settings(), "2026-02-27", None, 6, now=NOW)
    assert not short.asks  # up to now, three days, employees mapped: goes ahead unasked
    unmapped = plan_backfill(_settings(employees=0), "2026-02-27", None, 6, now=NOW)
    assert unmapped.asks
    assert "goes to the TOP manager top@acme.test" in unmapped.describe()[-1]


@pytest.mark.parametrize(
    ("date_from", "date_to", "hours", "error", "expected"),
    [
        ("0001-01-01", None, 6, TimeError, "'0001-01-01' is out of range"),
        ("1970-01-01", None, 1, BackfillRefused, "--from 1970-01-01 is before 2000-01-01"),
        (
            "2001-01-01",
            None,
            0.5,
            BackfillRefused,
            "windows of 0.5 h is too many (at most 20,000): give --window-hours 12 or more",
        ),
        (
            "2025-03-30T03:30",
            "2025-03-30T04:10",
            6,
            TimeError,
            "2025-03-30T03:30 does not exist in Europe/Kyiv: the clocks skip it",
        ),
        ("2026-02-10", "2026-02-01", 6, TimeError, "is not before --to 2026-02-01: swap them"),
    ],
)
def test_absurd_ranges_are_refused_saying_what_to_change(
    date_from: str, date_to: str | None, hours: float, error: type[Exception], expected: str
) -> None:
    with pytest.raises(error) as err:
        plan_backfill(_settings(), date_from, date_to, hours, now=NOW)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_over_400_days_needs_yes() -> None:
    plan = plan_backfill(_settings(), "2025-01-01", None, 24, now=NOW)
    assert plan.needs_yes and plan.windows <= MAX_WINDOWS
    with pytest.raises(BackfillRefused) as err:
        refuse_without_yes(plan, yes=False)
    assert "a backfill of 426 days (over 400) needs --yes" in str(err.value)
    refuse_without_yes(plan, yes=True)


_SCRIPT = """
import json, sys
from typer.testing import CliRunner
from flows.cli.app import app
out = []
for args, answer in json.loads(sys.argv[1]):
    r = CliRunner().invoke(app, args, input=answer)
    out.append({"code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr,
                "prefect": "prefect" in sys.modules})
print(json.dumps(out))
"""


@pytest.fixture
def reachable_config(tmp_path: Path) -> Iterator[Path]:
    """A config whose Zoho and Ringostat answer (the emulators), with no [[employees]]."""
    with (
        BackgroundServer(create_zoho()) as zoho,
        BackgroundServer(create_ringostat(auth_key="k")) as ringostat,
    ):
        path = tmp_path / "c.toml"
        path.write_bytes(
            tomli_w.dumps(
                {
                    "zoho": {
                        "accounts_url": zoho.url,
                        "api_domain": zoho.url,
                        "client_id": "id",
                        "client_secret": "secret",
                        "refresh_token": "token",
                    },
                    "ringostat": {"base_url": ringostat.url, "auth_key": "k"},
                    "scenario": {"top_manager": "boss@example.com"},
                    "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
                }
            ).encode()
        )
        yield path


def test_the_command_shows_the_plan_asks_and_refuses_in_one_line(
    reachable_config: Path,
) -> None:
    config = str(reachable_config)
    cases: list[tuple[list[str], str]] = [
        (["backfill", "--config", config, "--from", "2026-01-01", "--to", "2026-01-02"], "n\n"),
        (["backfill", "--config", config, "--from", "2026-01-01", "--to", "2026-01-02"], ""),
        (["backfill", "--config", config, "--from", "0001-01-01"], ""),
        (["backfill", "--config", config, "--from", "1970-01-01", "--window-hours", "1"], ""),
        (
            ["backfill", "--config", config, "--from", "2025-03-30T03:30", "--to", "2025-03-30T04:10"],
            "",
        ),
        (["backfill", "--config", config, "--from", "2020-01-01", "--to", "2021-06-01"], "y\n"),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(cases)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    declined, no_terminal, year_one, epoch, dst_gap, long = json.loads(proc.stdout)
    for result in (declined, no_terminal, year_one, epoch, dst_gap, long):
        assert result["code"] == 1, result
        [line] = result["stderr"].strip().splitlines()
        assert line.startswith("callsync: error: "), result
        assert not result["prefect"], "Prefect was imported: the guard came too late"
    assert declined["stdout"].startswith(
        "backfill 2026-01-01 00:00 → 2026-01-02 23:59 Europe/Kyiv (2.0 days) in 8 windows of 6 h"
    )
    assert "no [[employees]] entries" in declined["stdout"]
    assert "Go ahead? [y/N]" in declined["stdout"]
    assert "backfill not started: nothing was written" in declined["stderr"]
    assert "backfill not started" in no_terminal["stderr"]  # nobody there to say yes
    assert "'0001-01-01' is out of range" in year_one["stderr"]
    assert "--from 1970-01-01 is before 2000-01-01" in epoch["stderr"]
    assert "does not exist in Europe/Kyiv" in dst_gap["stderr"]
    assert "swap them" not in dst_gap["stderr"]
    assert "needs --yes" in long["stderr"] and "Go ahead?" not in long["stdout"]
