"""Trying callsync against the emulators, as an operator would, with real processes:
``callsync emulate --write-config F`` serves a company whose calls are of the last days and
writes a config for it; ``callsync plan --config F`` run "now" finds those calls, and a window
without calls says so instead of printing nothing."""

from __future__ import annotations

import os
import signal
import tomllib
from pathlib import Path

import pytest

from models.settings import load_settings
from tests.support.processes import Command

pytestmark = pytest.mark.slow


def test_emulate_writes_a_config_whose_plan_finds_todays_calls(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALLSYNC_"))}
    env["PREFECT_HOME"] = str(tmp_path / "user-prefect-home")
    config = tmp_path / "try" / "emu.toml"
    emulate = Command(
        ["emulate", "--zoho-port", "0", "--ringostat-port", "0", "--write-config", str(config)],
        env,
        tmp_path,
    )
    try:
        emulate.wait_for("Ctrl-C to stop")
        loaded = next(line for line in emulate.output if line.startswith("Loaded a demo company"))
        calls = int(loaded.split(", ")[1].split()[0])

        raw = tomllib.loads(config.read_text())
        assert raw["store"]["url"] == "sqlite:///emu-state/state.db"  # beside the config
        settings = load_settings(config)
        assert settings.store.url == f"sqlite:///{tmp_path / 'try' / 'emu-state' / 'state.db'}"
        assert len(settings.employees) >= 5
        assert settings.webhook.token.get_secret_value()
        assert settings.zoho.api_domain in "".join(emulate.output)

        plan = Command(["plan", "--config", str(config)], env, tmp_path)
        assert plan.finish() == 0, "".join(plan.output)
        plans = [line for line in plan.output if line.startswith("{")]
        assert len(plans) == calls  # the whole company's log: every call is of the last days
        assert f"{calls} calls in the window " in "".join(plan.output)

        quiet = Command(
            ["plan", "--config", str(config), "--from", "2020-01-01", "--to", "2020-01-02"],
            env,
            tmp_path,
        )
        assert quiet.finish() == 0, "".join(quiet.output)
        assert not [line for line in quiet.output if line.startswith("{")]
        assert (
            "0 calls in the window 2020-01-01 00:00 → 2020-01-02 23:59 (Europe/Kyiv); "
            "nothing was written" in "".join(quiet.output)
        )
    finally:
        os.kill(emulate.proc.pid, signal.SIGINT)
        emulate.finish()
