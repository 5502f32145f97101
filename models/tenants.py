"""Many companies on one installation: the tenants directory.

A tenant is one company — its Ringostat project and Zoho org, employees, scenario and webhook
token. A tenants directory (``--tenants-dir D`` or ``CALLSYNC_TENANTS_DIR``) holds::

    D/installation.toml     [store] (and [prefect]): what every tenant shares
    D/acme.toml             [zoho], [ringostat], [scenario], [[employees]], [webhook] of "acme"
    D/globex.toml           ... of "globex"
    D/initech.toml.disabled a tenant switched off (``callsync tenants disable initech``)

A tenant's name is its file's name: lowercase letters, digits and ``-``. Its settings are its
file plus the installation's sections; a tenant file that sets ``[store]`` or ``[prefect]`` is
refused (one installation, one store), as is a ``CALLSYNC_<SECTION>__<KEY>`` variable for a
tenant's section (it would apply to every company at once): tenants keep their own values in
their files or in Prefect Secret blocks.

Paths of ``[store]`` are relative to the directory. Every tenant has its own DuckDB file and
Data Docs: ``duckdb_path`` and ``data_docs_dir`` may name ``{tenant}``; without it the tenant's
name is added (``reports.duckdb`` → ``reports-acme.duckdb``, ``data_docs`` → ``data_docs/acme``).

A single config file (``--config``) is one tenant named ``default``, exactly as before tenants.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.settings import (
    ENV_PREFIX,
    TENANTS_DIR_ENV,
    ConfigError,
    PrefectSettings,
    Settings,
    StoreSettings,
    _check_env_keys,
    _deep_merge,
    _format_error,
    _read_toml,
    refuse_tenant_key,
    resolve_store_paths,
)
from models.tenant_name import DEFAULT_TENANT, TenantNameError, check_tenant

INSTALLATION_FILE = "installation.toml"
INSTALLATION_SECTIONS = ("store", "prefect")
"""What every tenant of an installation shares; never in a tenant's own file."""
TENANT_SUFFIX = ".toml"
DISABLED_SUFFIX = ".toml.disabled"


def tenant_store(store: StoreSettings, tenant: str) -> StoreSettings:
    """The installation's store settings as one tenant uses them: the same database, its own
    DuckDB file and Data Docs folder."""

    def own(path: str, file: bool) -> str:
        if "{tenant}" in path:
            return path.replace("{tenant}", tenant)
        p = Path(path)
        return str(p.with_name(f"{p.stem}-{tenant}{p.suffix}") if file else p / tenant)

    return store.model_copy(
        update={
            "duckdb_path": own(store.duckdb_path, True),
            "data_docs_dir": own(store.data_docs_dir, False),
        }
    )


@dataclass(frozen=True)
class TenantsDir:
    """A tenants directory (module docstring)."""

    path: Path

    @classmethod
    def from_option(cls, value: str | Path | None) -> TenantsDir | None:
        """The directory given (``--tenants-dir``), else ``$CALLSYNC_TENANTS_DIR``, else None."""
        chosen = value if value is not None else os.environ.get(TENANTS_DIR_ENV) or None
        if chosen is None:
            return None
        path = Path(chosen).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(
                f"tenants directory not found: {path} (--tenants-dir or {TENANTS_DIR_ENV})"
            )
        return cls(path)

    def file(self, tenant: str) -> Path:
        return self.path / f"{check_tenant(tenant)}{TENANT_SUFFIX}"

    def disabled_file(self, tenant: str) -> Path:
        return self.path / f"{check_tenant(tenant)}{DISABLED_SUFFIX}"

    def _named(self, suffix: str) -> list[str]:
        names = []
        for entry in self.path.iterdir():
            name = entry.name.removesuffix(suffix)
            if entry.name == INSTALLATION_FILE or not entry.name.endswith(suffix):
                continue
            try:
                names.append(check_tenant(name))
            except TenantNameError:
                continue  # not a tenant's file (an editor's backup, a README)
        return sorted(names)

    def names(self) -> list[str]:
        """The enabled tenants, by name."""
        return self._named(TENANT_SUFFIX)

    def disabled(self) -> list[str]:
        return self._named(DISABLED_SUFFIX)

    def installation(self) -> dict[str, Any]:
        """The installation's own sections (``installation.toml``; none when it is absent)."""
        path = self.path / INSTALLATION_FILE
        data = _read_toml(path) if path.exists() else {}
        stray = sorted(set(data) - set(INSTALLATION_SECTIONS))
        if stray:
            raise ConfigError(
                f"invalid configuration ({path}): {', '.join(stray)} belong in a tenant's own "
                f"file; installation.toml holds {' and '.join(INSTALLATION_SECTIONS)}"
            )
        return data

    def store(self) -> StoreSettings:
        """The installation's store (paths resolved against the directory)."""
        data = self.installation().get("store", {})
        try:
            store = StoreSettings(**data)
        except ValidationError as exc:
            raise ConfigError(_format_error(exc, str(self.path / INSTALLATION_FILE))) from None
        return resolve_store_paths(store, self.path)

    def prefect(self) -> PrefectSettings:
        """The installation's ``[prefect]`` section (the server, retention, the failure alert)."""
        data = self.installation().get("prefect", {})
        try:
            return PrefectSettings(**data)
        except ValidationError as exc:
            raise ConfigError(_format_error(exc, str(self.path / INSTALLATION_FILE))) from None

    def settings(self, tenant: str, overrides: Mapping[str, Any] | None = None) -> Settings:
        """One tenant's settings: its file, the installation's sections, ``overrides`` (Secret
        blocks) and the installation's environment variables."""
        try:
            path = self.file(tenant)
        except TenantNameError as exc:
            raise ConfigError(str(exc)) from None
        if not path.exists():
            off = self.disabled_file(tenant).exists()
            raise ConfigError(
                f"tenant {tenant!r} is disabled ({self.disabled_file(tenant).name}): "
                f"`callsync tenants enable {tenant}` switches it on"
                if off
                else f"no tenant {tenant!r}: {path} does not exist"
            )
        data = _read_toml(path)
        refuse_tenant_key(data, path)
        shared = [s for s in INSTALLATION_SECTIONS if s in data]
        if shared:
            raise ConfigError(
                f"invalid configuration ({path}): [{'], ['.join(shared)}] belong in "
                f"{self.path / INSTALLATION_FILE} (one store for every tenant)"
            )
        _check_env_keys(os.environ)
        _refuse_tenant_env(os.environ)
        installation = self.installation()
        data = _deep_merge(data, {k: v for k, v in installation.items() if k != "store"})
        if overrides:
            data = _deep_merge(data, overrides)
        try:
            settings = Settings(**data)
        except ValidationError as exc:
            raise ConfigError(_format_error(exc, str(path))) from None
        return settings.model_copy(
            update={"tenant": tenant, "store": tenant_store(self.store(), tenant)}
        )


def _refuse_tenant_env(env: Mapping[str, str]) -> None:
    shared = {s.upper() for s in INSTALLATION_SECTIONS}
    for name in env:
        section = name[len(ENV_PREFIX) :].partition("__")[0] if name.startswith(ENV_PREFIX) else ""
        if "__" in name and section and section not in shared:
            raise ConfigError(
                f"{name} is set, and with a tenants directory it would apply to every tenant: "
                "put the value in the tenant's file (or a Prefect Secret block) and unset it"
            )


def load_tenant_settings(
    config: str | Path | None = None,
    *,
    tenants_dir: str | Path | None = None,
    tenant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings of one run: ``tenant`` of the tenants directory when one is given (or set in
    the environment), else the single config file (the ``default`` tenant)."""
    from models.settings import load_settings

    directory = TenantsDir.from_option(tenants_dir) if config is None else None
    if directory is None:
        if tenant not in (None, DEFAULT_TENANT):
            raise ConfigError(
                f"--tenant {tenant}: name the tenants directory too (--tenants-dir or "
                f"{TENANTS_DIR_ENV}); a single --config file is the tenant 'default'"
            )
        return load_settings(config, overrides=overrides)
    if tenant is None:
        raise ConfigError(
            f"a tenants directory is set ({directory.path}): name the tenant (--tenant NAME)"
        )
    return directory.settings(tenant, overrides)
