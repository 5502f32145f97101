"""Zoho Accounts' token endpoint (refresh grant; the self client's grant-code exchange) and the
CRM's token check.

Quirks reproduced:

- a bad refresh token answers **HTTP 200** ``{"error": "invalid_code"}`` (no ``access_token``);
- parameters may come as a form body or in the query string;
- one refresh token mints at most 10 access tokens per 10 minutes; the 11th answers
  HTTP 400 ``{"error": "Access Denied", "error_description": "You have made too many requests
  continuously. Please try again after some time."}``;
- tokens are advertised with ``expires_in: 3600`` but really expire after the fault setting
  ``token_ttl_s`` (by the injected clock), so a client must also refresh on a 401;
- the org is picked by the refresh token, else the client id (:mod:`emulators.zoho.orgs`);
- ``grant_type=authorization_code`` (the self client's one-time exchange of a grant code for a
  refresh token): any non-empty ``code``, once; the answer carries a new ``refresh_token`` (added
  to the accepted ones when the seed names them); a code used again answers ``invalid_code``;
- every ``/crm/v8`` call needs ``Authorization: Zoho-oauthtoken <token>``; otherwise 401
  ``INVALID_TOKEN``.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from emulators.zoho.errors import invalid_token
from emulators.zoho.orgs import SCOPE_KEY, Orgs
from emulators.zoho.state import AccessToken, ZohoState

MINT_WINDOW = timedelta(minutes=10)
MINTS_PER_WINDOW = 10
ADVERTISED_TTL_S = 3600

router = APIRouter()


def state_of(request: Request) -> ZohoState:
    """The request's org: the one :class:`~emulators.zoho.orgs.OrgRouter` found, else the
    default org."""
    state = request.scope.get(SCOPE_KEY) or request.app.state.zoho
    assert isinstance(state, ZohoState)
    return state


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params.items())
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        # parsed by hand: Starlette's form parser needs python-multipart, not a dependency here
        body = (await request.body()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


@router.post("/oauth/v2/token")
async def token(request: Request) -> JSONResponse:
    params = await _params(request)
    orgs: Orgs = request.app.state.orgs
    state = orgs.for_grant(params.get("client_id", ""), params.get("refresh_token", ""))
    if params.get("grant_type") not in ("refresh_token", "authorization_code"):
        return JSONResponse({"error": "unsupported_grant_type"})
    if not params.get("client_id") or not params.get("client_secret"):
        return JSONResponse({"error": "invalid_client"})
    if params["grant_type"] == "authorization_code":
        return _exchange_code(orgs, state, params.get("code", ""), request)
    refresh = params.get("refresh_token", "")
    valid = state.valid_refresh_tokens
    if not refresh or (valid is not None and refresh not in valid):
        return JSONResponse({"error": "invalid_code"})
    now = state.now()
    log = state.mint_log.setdefault(refresh, deque())
    while log and now - log[0] >= MINT_WINDOW:
        log.popleft()
    if len(log) >= MINTS_PER_WINDOW:
        return JSONResponse(
            {
                "error": "Access Denied",
                "error_description": "You have made too many requests continuously. "
                "Please try again after some time.",
            },
            status_code=400,
        )
    log.append(now)
    access = state.new_token("1000")
    expires_at = now + timedelta(seconds=state.faults.token_ttl_s)
    state.access_tokens[access] = AccessToken(refresh, expires_at)
    orgs.minted(access, state)
    body: dict[str, Any] = {
        "access_token": access,
        "expires_in": ADVERTISED_TTL_S,
        "api_domain": str(request.base_url).rstrip("/"),
        "token_type": "Bearer",
    }
    return JSONResponse(body)


def _exchange_code(orgs: Orgs, state: ZohoState, code: str, request: Request) -> JSONResponse:
    if not code or code in state.used_grant_codes:
        return JSONResponse({"error": "invalid_code"})
    state.used_grant_codes.add(code)
    refresh = state.new_token("1000")
    if state.valid_refresh_tokens is not None:
        state.valid_refresh_tokens.add(refresh)
    access = state.new_token("1000")
    expires_at = state.now() + timedelta(seconds=state.faults.token_ttl_s)
    state.access_tokens[access] = AccessToken(refresh, expires_at)
    orgs.minted(access, state)
    return JSONResponse(
        {
            "access_token": access,
            "refresh_token": refresh,
            "api_domain": str(request.base_url).rstrip("/"),
            "token_type": "Bearer",
            "expires_in": ADVERTISED_TTL_S,
        }
    )


async def require_token(request: Request) -> None:
    """FastAPI dependency of every ``/crm/v8`` route."""
    state = state_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme != "Zoho-oauthtoken" or not value.strip():
        raise invalid_token()
    token = state.access_tokens.get(value.strip())
    if token is None:
        raise invalid_token()
    if state.now() >= token.expires_at:
        del state.access_tokens[value.strip()]
        raise invalid_token()
