"""Store paths in a config file are relative to that file, not to where the command runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.settings import StoreSettings, load_settings, resolve_store_paths


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLSYNC_"):
            monkeypatch.delenv(name)


def test_relative_store_paths_resolve_against_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc" / "callsync"
    etc.mkdir(parents=True)
    (etc / "config.toml").write_text(
        '[store]\nurl = "sqlite:///state/state.db"\nduckdb_path = "reports.duckdb"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "checkout"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for given in (Path("../etc/callsync/config.toml"), etc / "config.toml"):
        store = load_settings(given).store
        assert store.url == f"sqlite:///{etc / 'state' / 'state.db'}"
        assert store.duckdb_path == str(etc / "reports.duckdb")
        assert store.data_docs_dir == str(etc / ".callsync" / "data_docs")  # the default, too
    monkeypatch.setenv("CALLSYNC_CONFIG", str(etc / "config.toml"))
    assert load_settings().store.duckdb_path == str(etc / "reports.duckdb")


def test_without_a_config_file_store_paths_stay_relative_to_the_current_directory() -> None:
    assert load_settings().store == StoreSettings()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///a.db", "sqlite:////base/a.db"),
        ("sqlite+pysqlite:///d/a.db?mode=ro", "sqlite+pysqlite:////base/d/a.db?mode=ro"),
        ("sqlite:////var/lib/a.db", "sqlite:////var/lib/a.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://u@db/callsync", "postgresql+psycopg://u@db/callsync"),
    ],
)
def test_store_url_forms(url: str, expected: str) -> None:
    assert resolve_store_paths(StoreSettings(url=url), Path("/base")).url == expected
