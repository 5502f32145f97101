"""A tenant's name: which company a row, a run or a config file belongs to."""

from __future__ import annotations

import re

DEFAULT_TENANT = "default"
"""The tenant of a single-company installation (one ``--config`` file), and of every row a store
held before it had tenants."""

TENANT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
"""Lowercase letters, digits and ``-`` (not first or last), at most 63 characters: safe as a file
name, a URL path segment, a Prefect tag and a concurrency-limit name."""


class TenantNameError(ValueError):
    """A tenant name that is not lowercase letters, digits and ``-``."""


def check_tenant(name: str) -> str:
    """``name`` when it is a valid tenant name, else :class:`TenantNameError` saying why."""
    if not TENANT_NAME.match(name):
        raise TenantNameError(
            f"tenant name {name!r}: use lowercase letters, digits and '-' (not first or last), "
            "at most 63 characters, e.g. 'acme-kyiv'"
        )
    return name
