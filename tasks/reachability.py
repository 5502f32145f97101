"""Can this machine reach the services the configuration names? One quick look before a run.

A run against an unreachable service would otherwise spend minutes in the clients' backoff and
Prefect's task retries before it fails. :func:`check_reachable` sends one ``GET`` to each distinct
origin, all at once, with one short timeout for the whole exchange, and judges only the network
path: any HTTP answer, whatever its status, means the host is there (credentials are the run's
business). A failure names the URL and the setting it came from, so the fix is obvious.

The HTTP client is injected (ARCHITECTURE habit 2): tests pass ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

REACH_TIMEOUT_S = 8.0
"""Bound of the whole look (connect and answer) at each origin. The looks run concurrently, so a
command with an unreachable service fails well within 15 s of its start."""


class ServiceUnreachable(Exception):
    """One or more configured services did not answer; the message names each URL and setting."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A URL from the configuration and the setting that holds it (``zoho.accounts_url``)."""

    setting: str
    url: str


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: httpx.HTTPError, timeout_s: float) -> str:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return f"no connection within {timeout_s:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"connected, but no answer within {timeout_s:g} s"
    text = str(exc).strip() or type(exc).__name__
    if text == "All connection attempts failed":
        text = "connection refused"
    return text


async def _look(http: httpx.AsyncClient, origin: str, timeout_s: float) -> str | None:
    # httpx's timeout bounds each phase (connect, write, read) on its own; the look as a whole
    # gets the same bound on top, so that a slow connect followed by a slow answer cannot add up.
    try:
        await asyncio.wait_for(
            http.get(origin, timeout=httpx.Timeout(timeout_s), follow_redirects=False),
            timeout_s,
        )
    except httpx.HTTPError as exc:
        return _reason(exc, timeout_s)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    return None


async def check_reachable(
    endpoints: Sequence[Endpoint],
    http: httpx.AsyncClient,
    *,
    timeout_s: float = REACH_TIMEOUT_S,
) -> None:
    """Raise :class:`ServiceUnreachable` unless every endpoint's origin answers within
    ``timeout_s``. Endpoints sharing an origin are looked at once."""
    by_origin: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        by_origin.setdefault(_origin(endpoint.url), []).append(endpoint)
    origins = list(by_origin)
    reasons = await asyncio.gather(*(_look(http, o, timeout_s) for o in origins))
    problems = [
        f"cannot reach {origin} ({', '.join(e.setting for e in by_origin[origin])}): {reason}"
        for origin, reason in zip(origins, reasons, strict=True)
        if reason is not None
    ]
    if problems:
        raise ServiceUnreachable(
            "; ".join(problems) + " — check the URL in the configuration and the network"
        )
