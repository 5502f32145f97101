"""``callsync tenants``: list (last run, lag, credits today, failures), add, disable, enable,
remove — each touching one company only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tomli_w
from typer.testing import CliRunner

from flows.cli.app import app
from tasks.store import Store

COMPANY = {
    "zoho": {"client_id": "cid", "client_secret": "s", "refresh_token": "rt"},
    "ringostat": {"auth_key": "k"},
    "scenario": {"top_manager": "boss@acme.test"},
}


def tenants(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["tenants", "--tenants-dir", str(tmp_path), *args])
    return result.exit_code, result.output


def sub(tmp_path: Path, command: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["tenants", command, *args, "--tenants-dir", str(tmp_path)])
    return result.exit_code, result.output


def test_add_disable_enable_remove_one_company(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    (tmp_path / "installation.toml").write_bytes(tomli_w.dumps({"store": {"url": url}}).encode())
    source = tmp_path.parent / "acme-config.toml"
    source.write_bytes(tomli_w.dumps(COMPANY).encode())
    (tmp_path / "globex.toml").write_bytes(tomli_w.dumps(COMPANY).encode())

    assert sub(tmp_path, "add", "acme", "--from", str(source))[0] == 0
    assert (tmp_path / "acme.toml").exists()
    code, out = sub(tmp_path, "add", "acme", "--from", str(source))
    assert code == 1 and "exists already" in out
    bad = tmp_path.parent / "bad.toml"
    bad.write_bytes(tomli_w.dumps({**COMPANY, "store": {"url": url}}).encode())
    code, out = sub(tmp_path, "add", "initech", "--from", str(bad))
    assert code == 1 and "[store] belong in" in out and not (tmp_path / "initech.toml").exists()

    assert sub(tmp_path, "disable", "acme")[0] == 0
    assert (tmp_path / "acme.toml.disabled").exists()
    assert sub(tmp_path, "enable", "acme")[0] == 0

    now = datetime.now(UTC)
    with Store(url, tenant="acme") as store:
        store.set_cursor("ringostat:calls", now - timedelta(minutes=3))
        store.start_run("r1", "sync", None, None)
        store.finish_run("r1", "completed", {"zoho_credits": 12})
        store.fail_run("r2", "sync", "AuthError: Zoho refused the refresh token")
    code, out = tenants(tmp_path, "--format", "json")
    assert code == 0, out
    rows = {r["tenant"]: r for r in json.loads(out)}
    assert set(rows) == {"acme", "globex"}
    acme = rows["acme"]
    assert acme["credits_today"] == 12 and acme["failed_runs_24h"] == 1
    assert acme["last_error"] == "AuthError: Zoho refused the refresh token"
    assert 2.9 <= acme["lag_minutes"] <= 10
    assert rows["globex"]["last_run_at"] is None

    code, out = sub(tmp_path, "remove", "acme")
    assert code == 1 and "--yes" in out
    code, out = sub(tmp_path, "remove", "acme", "--yes", "--purge")
    assert code == 0 and "state rows deleted" in out, out
    assert not (tmp_path / "acme.toml").exists()
    assert [p.name for p in tmp_path.glob("acme.toml.removed-*")]
    with Store(url, tenant="acme") as store:
        assert store.get_cursor("ringostat:calls") is None
    assert (tmp_path / "globex.toml").exists()
