"""What a command checks before it starts Prefect or a run: configuration, arguments, reachability.

Each check fails with one line naming what to fix — the key (and its environment variable), the
argument, or the URL and the setting it came from — so that a typo costs a second, not a Prefect
server start, minutes of retries and a traceback:

- :func:`require` — keys a command cannot work without (the Zoho and Ringostat credentials, the
  TOP manager) are set;
- :func:`check_window` — ``--from``/``--to`` parse and ``--from`` comes first;
- :func:`reach` — the Zoho and Ringostat hosts answer (one concurrent look, bounded by
  :data:`tasks.reachability.REACH_TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import httpx

from models.settings import CONFIG_ENV, ConfigError, Settings
from tasks.reachability import REACH_TIMEOUT_S, Endpoint, check_reachable
from tasks.timeparse import TimeError, parse_when

ZOHO_KEYS = ("zoho.client_id", "zoho.client_secret", "zoho.refresh_token")
RINGOSTAT_KEYS = ("ringostat.auth_key",)
SCENARIO_KEYS = ("scenario.top_manager",)


def env_name(key: str) -> str:
    """``zoho.refresh_token`` → ``CALLSYNC_ZOHO__REFRESH_TOKEN``."""
    return "CALLSYNC_" + key.upper().replace(".", "__")


def _is_set(settings: Settings, key: str) -> bool:
    value: object = settings
    for part in key.split("."):
        value = getattr(value, part)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return bool(str(value).strip())


def require(settings: Settings, keys: Sequence[str], *, config: Path | None) -> None:
    """Raise :class:`ConfigError` naming every key of ``keys`` that is empty."""
    missing = [key for key in keys if not _is_set(settings, key)]
    if not missing:
        return
    if config is None and os.environ.get(CONFIG_ENV):
        config = Path(os.environ[CONFIG_ENV])
    where = f"in {config}" if config is not None else "no config file given (--config FILE)"
    raise ConfigError(
        "not set: " + ", ".join(f"{key} (or {env_name(key)})" for key in missing) + f" — {where}"
    )


def check_window(
    date_from: str | None, date_to: str | None, timezone: str, *, now: datetime
) -> None:
    """``--from``/``--to`` parse, and the window they make is not empty or in the future."""
    start = parse_when(date_from, timezone) if date_from else None
    end = parse_when(date_to, timezone, end=True) if date_to else None
    if start is not None and end is not None and start >= end:
        raise TimeError(f"--from {date_from} is not before --to {date_to}: swap them")
    if start is not None and start >= now:
        raise TimeError(f"--from {date_from} is in the future: nothing to read yet")


def endpoints(settings: Settings, *, zoho: bool, ringostat: bool) -> list[Endpoint]:
    found = []
    if zoho:
        found.append(Endpoint("zoho.accounts_url", settings.zoho.accounts_url))
        found.append(Endpoint("zoho.api_domain", settings.zoho.api_domain))
    if ringostat:
        found.append(Endpoint("ringostat.base_url", settings.ringostat.base_url))
    return found


async def reach_async(
    settings: Settings,
    *,
    zoho: bool = True,
    ringostat: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    async with httpx.AsyncClient(transport=transport) as http:
        await check_reachable(
            endpoints(settings, zoho=zoho, ringostat=ringostat), http, timeout_s=REACH_TIMEOUT_S
        )


def reach(settings: Settings, *, zoho: bool = True, ringostat: bool = True) -> None:
    """Raise :class:`tasks.reachability.ServiceUnreachable` unless the services answer."""
    asyncio.run(reach_async(settings, zoho=zoho, ringostat=ringostat))


def preflight(
    config: Path | None,
    *,
    now: datetime,
    date_from: str | None = None,
    date_to: str | None = None,
    zoho: bool = True,
    ringostat: bool = True,
    tenants_dir: Path | None = None,
    tenant: str | None = None,
) -> Settings:
    """Everything a command that runs the sync checks first; returns the settings (of
    ``tenant`` when a tenants directory is given or set)."""
    from models.tenants import load_tenant_settings

    settings = load_tenant_settings(config, tenants_dir=tenants_dir, tenant=tenant)
    keys = [*SCENARIO_KEYS]
    if zoho:
        keys[:0] = ZOHO_KEYS
    if ringostat:
        keys.extend(RINGOSTAT_KEYS)
    require(settings, keys, config=config)
    check_window(date_from, date_to, settings.ringostat.timezone, now=now)
    reach(settings, zoho=zoho, ringostat=ringostat)
    return settings
