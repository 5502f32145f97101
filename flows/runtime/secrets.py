"""Secrets from Prefect Secret blocks, loaded when a run starts.

A deployment names its blocks in the ``secret_blocks`` parameter, setting → block name::

    secret_blocks:
      zoho.client_secret: callsync-zoho-client-secret
      zoho.refresh_token: callsync-{tenant}-zoho-refresh-token

The values are read from the Prefect server by the run itself, so they never sit in the
deployment (``{{ prefect.blocks.secret.* }}`` in ``job_variables`` is resolved by ``prefect
deploy`` and stored in plain text, readable through the API). They take the place of the config
file's values; ``CALLSYNC_<SECTION>__<KEY>`` variables still win, as for every setting.

``{tenant}`` in a block name is the run's tenant: one deployment serves every company, each
company's secrets in blocks of its own (``callsync-acme-zoho-refresh-token``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.settings import ConfigError, Settings
from models.tenant_name import DEFAULT_TENANT
from models.tenants import load_tenant_settings


async def secret_overrides(
    secret_blocks: Mapping[str, str] | None, tenant: str = DEFAULT_TENANT
) -> dict[str, dict[str, Any]]:
    """``{"zoho": {"client_secret": "…"}}`` from the named Secret blocks (``{tenant}`` in a
    name is ``tenant``)."""
    from prefect.blocks.system import Secret

    overrides: dict[str, dict[str, Any]] = {}
    for key, template in (secret_blocks or {}).items():
        block = template.replace("{tenant}", tenant)
        section, dot, name = key.partition(".")
        if not dot or not section or not name:
            raise ConfigError(
                f"secret_blocks key {key!r} must name a setting as 'section.key' "
                "(e.g. 'zoho.refresh_token')"
            )
        try:
            secret: Secret[Any] = await Secret.aload(block)
        except ValueError as exc:
            raise ConfigError(
                f"Secret block {block!r} (for {key}) not found on the Prefect server; "
                "create it as deployments/README.md shows"
            ) from exc
        overrides.setdefault(section, {})[name] = secret.get()
    return overrides


async def load_run_settings(
    config: str | None,
    secret_blocks: Mapping[str, str] | None = None,
    *,
    tenant: str | None = None,
    tenants_dir: str | None = None,
) -> Settings:
    """The run's settings: ``tenant`` of the tenants directory (``tenants_dir``, else
    ``$CALLSYNC_TENANTS_DIR``) or the config file, and the environment, with the Secret blocks'
    values."""
    overrides = (
        await secret_overrides(secret_blocks, tenant or DEFAULT_TENANT) if secret_blocks else None
    )
    return load_tenant_settings(config, tenants_dir=tenants_dir, tenant=tenant, overrides=overrides)
