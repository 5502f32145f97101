"""``./run help`` prints the usage comment of the script and nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_help_prints_only_the_comment_block() -> None:
    out = subprocess.run(
        ["bash", str(ROOT / "run"), "help"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("callsync developer entry point")
    assert any(line.strip().startswith("./run test") for line in lines)
    assert lines[-1].startswith("Anything else is passed to the callsync command line")
    assert not any("set -" in line or line.startswith("#") for line in lines)
