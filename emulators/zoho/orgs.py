"""Many orgs on one Zoho emulator: what lets a simulation of hundreds of companies (each its own
Zoho org) run on one server, keyed by credentials as Zoho is.

- **The default org** is ``app.state.zoho``: everything a single-org client or test did before
  is unchanged (its admin API at ``/__emulator__/...``).
- **A named org** is created by its first admin call at ``/__emulator__/orgs/<org>/...`` — the
  same routes (``reset``, ``seed``, ``dump``, ``faults``, ``stats``) for that org only. Its seed's
  ``oauth`` object names the credentials that pick it:
  ``{"oauth": {"client_ids": ["cid-acme"], "refresh_tokens": ["rt-acme"]}}``. Only the listed
  refresh tokens are then valid for it, so a "revoked" refresh token is a client id registered
  with other refresh tokens (Zoho answers ``invalid_code``).
- ``POST /oauth/v2/token`` picks the org by refresh token, else by client id, else the default
  org; the access token it mints belongs to that org, and every ``/crm/v8`` request carrying it
  is that org's — its records, faults (latency, concurrency limit, credit budget) and counters.
  An access token no org minted goes to the default org (which answers ``INVALID_TOKEN``).
- ``GET /__emulator__/orgs`` lists the named orgs with their ``requests``, ``credits`` and
  ``max_in_flight``.
"""

from __future__ import annotations

import threading
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.zoho.state import ZohoState

ORG_PREFIX = "/__emulator__/orgs/"
SCOPE_KEY = "zoho_org"
"""Where the request's org is kept in the ASGI scope (read by ``oauth.state_of``)."""


class Orgs:
    """The named orgs of one emulator and the credentials that pick them."""

    def __init__(self, default: ZohoState) -> None:
        self.default = default
        self.named: dict[str, ZohoState] = {}
        self._by_client: dict[str, ZohoState] = {}
        self._by_refresh: dict[str, ZohoState] = {}
        self._by_access: dict[str, ZohoState] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ZohoState:
        """The org ``name``, created empty (the default org's shape) on first use."""
        with self._lock:
            org = self.named.get(name)
            if org is None:
                # The default org's clock, as it is when asked (a test may move or swap it).
                org = self.named[name] = ZohoState(clock=lambda: self.default.clock(), org=name)
            return org

    def register(self, org: ZohoState, *, client_ids: list[str], refresh_tokens: list[str]) -> None:
        with self._lock:
            self._by_client.update(dict.fromkeys(client_ids, org))
            self._by_refresh.update(dict.fromkeys(refresh_tokens, org))

    def for_grant(self, client_id: str, refresh_token: str) -> ZohoState:
        """The org a token request is for: by refresh token, else client id, else default."""
        return self._by_refresh.get(refresh_token) or self._by_client.get(client_id) or self.default

    def minted(self, access_token: str, org: ZohoState) -> None:
        if org is not self.default:
            self._by_access[access_token] = org

    def for_access(self, access_token: str) -> ZohoState | None:
        return self._by_access.get(access_token)

    def summary(self) -> dict[str, Any]:
        return {
            name: {
                "requests": org.stats.requests,
                "credits": org.stats.credits,
                "max_in_flight": org.stats.max_in_flight,
            }
            for name, org in sorted(self.named.items())
        }


class OrgRouter:
    """ASGI middleware: puts the request's org in the scope (admin paths by name, CRM calls by
    their access token); the token endpoint picks its org itself, from the form it reads."""

    def __init__(self, app: ASGIApp, *, orgs: Orgs) -> None:
        self.app = app
        self.orgs = orgs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = str(scope["path"])
            if path.startswith(ORG_PREFIX):
                name, _, rest = path.removeprefix(ORG_PREFIX).partition("/")
                if name and rest:
                    scope = dict(scope)
                    scope[SCOPE_KEY] = self.orgs.get(name)
                    scope["path"] = f"/__emulator__/{rest}"
                    scope["raw_path"] = scope["path"].encode()
            elif path.startswith("/crm/"):
                header = dict(scope.get("headers") or []).get(b"authorization", b"")
                token = header.decode("latin-1").partition(" ")[2].strip()
                org = self.orgs.for_access(token) if token else None
                if org is not None:
                    scope = dict(scope)
                    scope[SCOPE_KEY] = org
        await self.app(scope, receive, send)
