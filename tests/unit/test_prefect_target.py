"""Where a command's runs go: PREFECT_API_URL (environment or profile), else the installation's
own server in ``prefect/`` beside the state store, resolved against the config file's folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from flows.runtime.prefect_server import (
    PrefectServerError,
    PrefectTarget,
    configured_api_url,
    point_prefect_at,
    prefect_home,
    resolve_prefect,
    server_env,
)
from models.settings import load_settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_home_is_beside_the_state_store_of_the_config_not_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "callsync.toml"
    config.write_text('[store]\nurl = "sqlite:///data/state.db"\n')
    monkeypatch.chdir(tmp_path)
    assert prefect_home(load_settings(config)) == tmp_path / "etc" / "data" / "prefect"
    pg = tmp_path / "etc" / "pg.toml"
    pg.write_text('[store]\nurl = "postgresql://db/callsync"\nduckdb_path = "r/reports.duckdb"\n')
    assert prefect_home(load_settings(pg)) == tmp_path / "etc" / "r" / "prefect"


def test_prefect_api_url_comes_from_the_environment_or_the_active_profile(tmp_path: Path) -> None:
    assert configured_api_url({"PREFECT_API_URL": "http://x/api"}) == "http://x/api"
    (tmp_path / "profiles.toml").write_text(
        'active = "work"\n[profiles.work]\nPREFECT_API_URL = "http://work:4200/api"\n'
        '[profiles.other]\nPREFECT_API_URL = "http://other:4200/api"\n'
    )
    env = {"PREFECT_HOME": str(tmp_path)}
    assert configured_api_url(env) == "http://work:4200/api"
    assert configured_api_url({**env, "PREFECT_PROFILE": "other"}) == "http://other:4200/api"
    assert configured_api_url({"PREFECT_HOME": str(tmp_path / "none")}) is None


def test_an_unreachable_prefect_api_url_is_one_line_naming_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    settings = load_settings(None, overrides={"store": {"url": f"sqlite:///{tmp_path}/s.db"}})
    with pytest.raises(PrefectServerError) as err:
        resolve_prefect(settings, env={"PREFECT_API_URL": url})
    assert f"PREFECT_API_URL={url}" in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "prefect").exists()  # nothing of its own was started


def test_without_a_running_server_nothing_is_started_unless_asked(tmp_path: Path) -> None:
    settings = load_settings(None, overrides={"store": {"url": f"sqlite:///{tmp_path}/s.db"}})
    assert resolve_prefect(settings, env={"PREFECT_HOME": str(tmp_path)}, start=False) is None


def test_a_command_is_pointed_at_the_installation_and_never_at_a_temporary_server(
    tmp_path: Path,
) -> None:
    env: dict[str, str] = {"PREFECT_PROFILE": "work"}
    point_prefect_at(PrefectTarget("http://127.0.0.1:4300/api", tmp_path), env)
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4300/api"
    assert env["PREFECT_HOME"] == str(tmp_path)
    assert env["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] == "false"
    assert "PREFECT_PROFILE" not in env
    external: dict[str, str] = {"PREFECT_HOME": "/home/me/.prefect"}
    point_prefect_at(PrefectTarget("http://prefect:4200/api", None), external)
    assert external["PREFECT_HOME"] == "/home/me/.prefect"  # the user's Prefect stays theirs


def test_servers_callsync_starts_send_no_telemetry(tmp_path: Path) -> None:
    env = server_env(tmp_path, {"PREFECT_API_URL": "http://elsewhere/api", "PATH": "/bin"})
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_HOME"] == str(tmp_path)
    assert "PREFECT_API_URL" not in env
