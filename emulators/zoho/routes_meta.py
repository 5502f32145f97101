"""Org metadata routes: org, modules, users, roles, fields.

- ``GET /crm/v8/org`` answers ``{"org": [{...}]}`` (see ``settings_meta``).
- ``GET /crm/v8/settings/modules`` answers ``{"modules": [...]}`` (every module, ``fields`` empty);
  with ``If-Modified-Since`` it answers 304, module metadata never changing in an emulated org;
  ``GET /crm/v8/settings/modules/{api_name}`` answers that one module with its fields, an unknown
  one ``INVALID_MODULE``.

- ``GET /crm/v8/users?type=...`` answers ``{"users": [...], "info": {...}}`` (key ``users``,
  not ``data``); ``type`` is ``AllUsers`` (default), ``ActiveUsers``, ``DeactiveUsers``,
  ``AdminUsers``, ``ActiveConfirmedUsers``, ``CurrentUser``; 204 when none match.
- ``GET /crm/v8/settings/roles`` answers ``{"roles": [...]}``; the top role's ``reporting_to``
  is ``null``.
- ``GET /crm/v8/settings/fields?module=X`` answers ``{"fields": [...]}``; the Deals ``Stage``
  options carry ``forecast_type`` / ``forecast_category`` (open, won or lost).
- ``GET /crm/v8/settings/business_hours`` answers ``{"business_hours": {...}}``, or 204 when the
  org has none (the seed sets them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from emulators.zoho.errors import ZohoError, invalid_module, invalid_param, required_param
from emulators.zoho.fields_meta import module_fields
from emulators.zoho.oauth import require_token, state_of
from emulators.zoho.settings_meta import module_meta, org_info
from emulators.zoho.state import ADMIN_PROFILE, ADMIN_USER_ID, ZohoState

router = APIRouter(prefix="/crm/v8", dependencies=[Depends(require_token)])

UserFilter = Callable[[dict[str, Any], ZohoState], bool]
_USER_TYPES: dict[str, UserFilter] = {
    "AllUsers": lambda u, s: True,
    "ActiveUsers": lambda u, s: u["status"] == "active",
    "DeactiveUsers": lambda u, s: u["status"] != "active",
    "ActiveConfirmedUsers": lambda u, s: u["status"] == "active" and u["confirm"],
    "ConfirmedUsers": lambda u, s: bool(u["confirm"]),
    "NotConfirmedUsers": lambda u, s: not u["confirm"],
    "AdminUsers": lambda u, s: u["profile"]["id"] == ADMIN_PROFILE["id"],
    "CurrentUser": lambda u, s: u["id"] == s.current_user_id,
}


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(name) from None
    if not low <= value <= high:
        raise invalid_param(name)
    return value


def public_user(state: ZohoState, user: dict[str, Any]) -> dict[str, Any]:
    out = dict(user)
    manager = user.get("Reporting_To")
    if isinstance(manager, dict) and manager.get("id"):
        ref = state.minified_user(str(manager["id"])) or {}
        out["Reporting_To"] = {"name": ref.get("name", ""), "id": ref.get("id")}
    else:
        out["Reporting_To"] = None
    return out


@router.get("/users")
async def users(request: Request) -> Response:
    state = state_of(request)
    kind = request.query_params.get("type", "AllUsers")
    wanted = _USER_TYPES.get(kind)
    if wanted is None:
        raise invalid_param("type")
    page = int_param(request, "page", 1, 1, 10_000)
    per_page = int_param(request, "per_page", 200, 1, 200)
    matched = [u for u in state.users.values() if wanted(u, state)]
    chunk = matched[(page - 1) * per_page : page * per_page]
    if not chunk:
        return Response(status_code=204)
    info = {
        "per_page": per_page,
        "count": len(chunk),
        "page": page,
        "more_records": len(matched) > page * per_page,
    }
    return JSONResponse({"users": [public_user(state, u) for u in chunk], "info": info})


@router.get("/users/{user_id}")
async def user(user_id: str, request: Request) -> Response:
    state = state_of(request)
    found = state.users.get(user_id)
    if found is None:
        return Response(status_code=204)
    return JSONResponse(
        {
            "users": [public_user(state, found)],
            "info": {"per_page": 200, "count": 1, "page": 1, "more_records": False},
        }
    )


@router.get("/settings/roles")
async def roles(request: Request) -> JSONResponse:
    return JSONResponse({"roles": list(state_of(request).roles.values())})


@router.get("/settings/roles/{role_id}")
async def role(role_id: str, request: Request) -> Response:
    found = state_of(request).roles.get(role_id)
    if found is None:
        return Response(status_code=204)
    return JSONResponse({"roles": [found]})


@router.get("/settings/fields")
async def fields(request: Request) -> JSONResponse:
    state = state_of(request)
    name = request.query_params.get("module")
    if not name:
        raise required_param("module")
    module = state.module(name)
    if module is None:
        raise invalid_module(api_name=name)
    return JSONResponse({"fields": module_fields(module)})


@router.get("/settings/fields/{field_id}")
async def field(field_id: str, request: Request) -> JSONResponse:
    state = state_of(request)
    name = request.query_params.get("module")
    if not name:
        raise required_param("module")
    module = state.module(name)
    if module is None:
        raise invalid_module(api_name=name)
    found = [f for f in module_fields(module) if f["id"] == field_id or f["api_name"] == field_id]
    if not found:
        raise ZohoError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": field_id})
    return JSONResponse({"fields": found})


@router.get("/settings/business_hours")
async def business_hours(request: Request) -> Response:
    hours = state_of(request).business_hours
    if hours is None:
        return Response(status_code=204)
    return JSONResponse({"business_hours": hours})


@router.get("/org")
async def org(request: Request) -> JSONResponse:
    state = state_of(request)
    admin = state.users.get(ADMIN_USER_ID) or next(iter(state.users.values()))
    return JSONResponse({"org": [org_info(str(admin["email"]), str(admin["zuid"]))]})


def _modified_by(state: ZohoState) -> dict[str, Any]:
    ref = state.minified_user(ADMIN_USER_ID) or {}
    return {"name": ref.get("name", ""), "id": ref.get("id")}


@router.get("/settings/modules")
async def modules(request: Request) -> Response:
    state = state_of(request)
    if request.headers.get("if-modified-since"):
        return Response(status_code=304)
    who = _modified_by(state)
    return JSONResponse(
        {"modules": [module_meta(m, i + 1, who) for i, m in enumerate(state.modules.values())]}
    )


@router.get("/settings/modules/{api_name}")
async def module(api_name: str, request: Request) -> JSONResponse:
    state = state_of(request)
    found = state.module(api_name)
    if found is None:
        raise invalid_module(api_name=api_name)
    sequence = list(state.modules).index(found.api_name) + 1
    return JSONResponse(
        {"modules": [module_meta(found, sequence, _modified_by(state), with_fields=True)]}
    )
