"""The tenants directory: one file per company, the installation's store shared, each company's
own reports; single-config installations unchanged (the tenant ``default``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from models.settings import ConfigError
from models.tenants import TenantsDir, load_tenant_settings

COMPANY = {
    "zoho": {"client_id": "cid", "client_secret": "s", "refresh_token": "rt"},
    "ringostat": {"auth_key": "k"},
    "scenario": {"top_manager": "boss@acme.test"},
    "webhook": {"token": "acme-token"},
}


def write(path: Path, data: dict[str, object]) -> Path:
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


@pytest.fixture
def directory(tmp_path: Path) -> TenantsDir:
    write(tmp_path / "installation.toml", {"store": {"url": "sqlite:///state/state.db"}})
    write(tmp_path / "acme.toml", COMPANY)
    write(tmp_path / "globex.toml", {**COMPANY, "scenario": {"top_manager": "ceo@globex.test"}})
    write(tmp_path / "initech.toml.disabled", COMPANY)
    (tmp_path / "notes.txt").write_text("not a tenant")
    (tmp_path / "Bad_Name.toml").write_text("")
    return TenantsDir(tmp_path)


def test_the_files_are_the_tenants(directory: TenantsDir) -> None:
    assert directory.names() == ["acme", "globex"]
    assert directory.disabled() == ["initech"]


def test_a_tenant_gets_the_installations_store_and_its_own_reports(directory: TenantsDir) -> None:
    acme, globex = directory.settings("acme"), directory.settings("globex")
    assert (acme.tenant, globex.tenant) == ("acme", "globex")
    assert acme.store.url == globex.store.url == f"sqlite:///{directory.path}/state/state.db"
    assert acme.store.duckdb_path == str(directory.path / ".callsync" / "reports-acme.duckdb")
    assert acme.store.data_docs_dir == str(directory.path / ".callsync" / "data_docs" / "acme")
    assert globex.scenario.top_manager == "ceo@globex.test"
    assert acme.webhook.token.get_secret_value() == "acme-token"


def test_tenant_in_the_report_path_names_the_file(tmp_path: Path) -> None:
    installation = {"store": {"url": "sqlite:///s.db", "duckdb_path": "reports/{tenant}.duckdb"}}
    write(tmp_path / "installation.toml", installation)
    write(tmp_path / "acme.toml", COMPANY)
    settings = TenantsDir(tmp_path).settings("acme")
    assert settings.store.duckdb_path == str(tmp_path / "reports" / "acme.duckdb")


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("acme", {**COMPANY, "store": {"url": "sqlite://"}}, r"\[store\] belong in"),
        ("acme", {**COMPANY, "tenant": "other"}, "unknown key 'tenant'"),
        ("acme", {**COMPANY, "zoho": {"clientid": "x"}}, "unknown key 'zoho.clientid'"),
    ],
)
def test_a_tenant_file_is_refused_with_one_line(
    tmp_path: Path, name: str, data: dict[str, object], says: str
) -> None:
    write(tmp_path / f"{name}.toml", data)
    with pytest.raises(ConfigError, match=says):
        TenantsDir(tmp_path).settings(name)


def test_a_disabled_or_unknown_tenant_says_so(directory: TenantsDir) -> None:
    with pytest.raises(ConfigError, match="tenants enable initech"):
        directory.settings("initech")
    with pytest.raises(ConfigError, match="no tenant 'nobody'"):
        directory.settings("nobody")


def test_a_tenants_setting_in_the_environment_is_refused(
    directory: TenantsDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLSYNC_ZOHO__REFRESH_TOKEN", "one-for-all")
    with pytest.raises(ConfigError, match="would apply to every tenant"):
        directory.settings("acme")


def test_a_single_config_is_the_default_tenant(tmp_path: Path) -> None:
    config = write(tmp_path / "callsync.toml", COMPANY)
    assert load_tenant_settings(config).tenant == "default"
    with pytest.raises(ConfigError, match="name the tenants directory"):
        load_tenant_settings(config, tenant="acme")


def test_a_directory_needs_a_tenant(directory: TenantsDir) -> None:
    with pytest.raises(ConfigError, match="name the tenant"):
        load_tenant_settings(tenants_dir=directory.path)
    assert load_tenant_settings(tenants_dir=directory.path, tenant="globex").tenant == "globex"
