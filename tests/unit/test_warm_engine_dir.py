"""The warm-start socket lives where only this user can reach it: the runs' environments (their
secrets) and standard streams go through it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from flows.runtime import warm_engine


@pytest.fixture
def no_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path / f"callsync-warm-{os.getuid()}"


def test_a_private_directory_of_its_own(no_runtime_dir: Path) -> None:
    path = warm_engine.socket_path("k")
    assert path == no_runtime_dir / "callsync-warm-k.sock"
    assert no_runtime_dir.stat().st_mode & 0o777 == 0o700


def test_a_directory_others_can_enter_is_refused(no_runtime_dir: Path) -> None:
    no_runtime_dir.mkdir(mode=0o755)
    no_runtime_dir.chmod(0o755)
    with pytest.raises(PermissionError, match="private directory"):
        warm_engine.socket_path("k")


def test_a_symlink_planted_there_is_refused(no_runtime_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    no_runtime_dir.symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="private directory"):
        warm_engine.socket_path("k")
