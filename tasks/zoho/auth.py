"""Zoho OAuth: the refresh-token grant, one cached access token, one refresh at a time.

Quirks handled (Zoho OAuth documentation):

- a refused refresh token answers **HTTP 200** with ``{"error": "invalid_code"}``: success is the
  presence of ``access_token``, never the status;
- ``expires_in`` is in seconds, except in older answers that also carry ``expires_in_sec``, where
  ``expires_in`` is in milliseconds;
- one refresh token mints at most 10 access tokens per 10 minutes (past that Zoho answers
  ``{"error": "Access Denied"}``): the token is used until it has under 5 minutes left
  (:data:`MIN_LEFT`) and refreshed only then or after a 401; concurrent requests share a single
  in-flight refresh, and with a :class:`~tasks.zoho.token_store.SharedTokens` every process of
  the installation shares one token through the state store, one process minting at a time;
- the answer's ``api_domain`` names the org's data centre and wins over the configured one.

Secrets (client secret, refresh token, access token) never appear in a repr, a log or a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from models.settings import ZohoSettings
from tasks.zoho.errors import AuthError, classify, from_transport_error, response_json
from tasks.zoho.token_store import SharedTokens

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_DATA_CENTRES = {
    "com": "US (zoho.com)",
    "eu": "EU (zoho.eu)",
    "in": "India (zoho.in)",
    "com.au": "Australia (zoho.com.au)",
    "com.cn": "China (zoho.com.cn)",
    "jp": "Japan (zoho.jp)",
    "ca": "Canada (zohocloud.ca)",
    "sa": "Saudi Arabia (zoho.sa)",
}
MIN_LEFT = timedelta(minutes=5)
"""A token with less than this left is not used: a new one is minted (SPEC 13)."""
_DEFAULT_TTL_S = 3600.0
_WAIT_S = 0.2
"""How often a process waiting for another one's refresh looks at the store again."""
_MAX_WAITS = 250
"""50 s of waiting: longer than a refresh claim lives, so a dead claimant is outlived."""


def data_centre(url: str) -> str:
    """The Zoho data centre an accounts or API URL belongs to, e.g. ``EU (zoho.eu)``."""
    host = (urlsplit(url).hostname or "").lower()
    for marker in ("zohoapis.", "zohocloud.", "zoho."):
        if marker in host:
            suffix = host.split(marker, 1)[1]
            return _DATA_CENTRES.get(suffix, f"unknown ({host})")
    return f"not a Zoho host ({host or url})"


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: datetime
    api_domain: str


def _lifetime_s(body: Mapping[str, Any]) -> float:
    if body.get("expires_in_sec") is not None:
        return float(body["expires_in_sec"])  # then expires_in is in milliseconds
    if body.get("expires_in") is not None:
        return float(body["expires_in"])
    return _DEFAULT_TTL_S


def _explain(err: AuthError, accounts_url: str) -> str:
    """A message that says what to change, naming the key and the data centre, never a secret."""
    dc = f"{accounts_url} ({data_centre(accounts_url)} data centre)"
    key = "zoho.refresh_token / CALLSYNC_ZOHO__REFRESH_TOKEN"
    code = err.code.lower()
    if code == "invalid_client":
        return (
            f"Zoho's accounts server {dc} does not know this OAuth client ({err.code}): check "
            "zoho.client_id and zoho.client_secret (CALLSYNC_ZOHO__CLIENT_ID / "
            "CALLSYNC_ZOHO__CLIENT_SECRET) and that zoho.accounts_url is the data centre where "
            "the client was registered"
        )
    if code == "access denied" or "too many" in err.message.lower():
        return (
            f"Zoho's accounts server {dc} refused to mint another access token ({err.code}: "
            "one refresh token mints at most 10 access tokens per 10 minutes): wait 10 minutes; "
            f"if it repeats, another process shares {key}: give each its own refresh token"
        )
    return (
        f"Zoho's accounts server {dc} refused the refresh token ({err.code or 'no access_token'}): "
        f"set {key} to a valid refresh token issued by this data centre (a revoked token, a "
        "token of another data centre, or a grant code instead of a refresh token are refused)"
    )


class ZohoAuth:
    """Hands out a valid access token; refreshes it at most once per expiry or 401."""

    def __init__(
        self,
        settings: ZohoSettings,
        http: httpx.AsyncClient,
        *,
        clock: Clock,
        shared: SharedTokens | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._shared = shared
        self._sleep = sleep
        self._token: AccessToken | None = None
        self._api_domain = settings.api_domain
        self._lock = asyncio.Lock()
        self.refreshes = 0
        """Token requests made (successful or not): Zoho allows 10 per 10 minutes."""

    def __repr__(self) -> str:
        return f"ZohoAuth(accounts_url={self._settings.accounts_url!r}, refreshes={self.refreshes})"

    @property
    def api_domain(self) -> str:
        """Where CRM calls go: the last token answer's ``api_domain``, else the configured one."""
        return self._api_domain

    def _cached(self) -> AccessToken | None:
        token = self._token
        return token if token is not None and self._clock() < token.expires_at else None

    async def token(self) -> AccessToken:
        """The cached token while it is fresh; otherwise a new one.

        Concurrent callers wait on one lock; whoever comes second finds the token the first
        one minted and uses it instead of minting another.
        """
        if cached := self._cached():
            return cached
        async with self._lock:
            if cached := self._cached():
                return cached
            self._token = await self._obtain()
            self._api_domain = self._token.api_domain
            return self._token

    def discard(self, token: AccessToken) -> None:
        """Forget ``token`` after Zoho refused it (a 401), unless it was replaced meanwhile;
        the shared store forgets it too, so no other process uses it again."""
        if self._token is token:
            self._token = None
        if self._shared is not None:
            self._shared.invalidate(token.value)

    def _from_store(self) -> AccessToken | None:
        assert self._shared is not None
        found = self._shared.load()
        if found is None or self._clock() >= found[2]:
            return None
        return AccessToken(found[0], found[2], found[1] or self._settings.api_domain)

    async def _obtain(self) -> AccessToken:
        """The shared token when it is fresh; else mint one, one process at a time."""
        if self._shared is None:
            return await self._fetch()
        for _ in range(_MAX_WAITS):
            if found := self._from_store():
                return found
            if self._shared.claim():
                try:
                    if found := self._from_store():  # minted just before our claim
                        self._shared.release()
                        return found
                    token = await self._fetch()
                except BaseException:
                    self._shared.release()
                    raise
                self._shared.save(token.value, token.api_domain, token.expires_at)
                return token
            await self._sleep(_WAIT_S)  # another process is minting: wait for its token
        return await self._fetch()

    async def _fetch(self) -> AccessToken:
        s = self._settings
        url = f"{s.accounts_url}/oauth/v2/token"
        form = {
            "grant_type": "refresh_token",
            "client_id": s.client_id.get_secret_value(),
            "client_secret": s.client_secret.get_secret_value(),
            "refresh_token": s.refresh_token.get_secret_value(),
        }
        self.refreshes += 1
        try:
            response = await self._http.post(url, data=form, timeout=s.timeout_s)
        except httpx.TransportError as exc:
            raise from_transport_error(exc, idempotent=True) from exc
        err = classify(response)
        body = response_json(response) if err is None else None
        if isinstance(err, AuthError) or (err is None and not _has_token(body)):
            auth_err = err if isinstance(err, AuthError) else AuthError("no access_token")
            raise AuthError(
                _explain(auth_err, s.accounts_url), code=auth_err.code, status=response.status_code
            ) from None
        if err is not None:
            raise err
        assert isinstance(body, Mapping)
        now = self._clock()
        ttl = timedelta(seconds=_lifetime_s(body))
        # Refresh early (SPEC 13: under 5 minutes left) so no request leaves with a token about
        # to expire; a short-lived token (tests, emulators) keeps most of its life.
        early = min(MIN_LEFT, ttl / 10)
        api_domain = str(body.get("api_domain") or s.api_domain).rstrip("/")
        log.info(
            "Zoho access token refreshed (%s, valid %ss)",
            data_centre(api_domain),
            int(ttl.total_seconds()),
        )
        return AccessToken(str(body["access_token"]), now + ttl - early, api_domain)


def _has_token(body: Any) -> bool:
    return isinstance(body, Mapping) and bool(body.get("access_token"))
