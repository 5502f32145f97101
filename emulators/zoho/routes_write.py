"""``/crm/v8/{module}`` write routes: insert, update, upsert, delete.

Request-level checks come first (unknown module → ``INVALID_MODULE``, but a path whose first
segment is one of Zoho's own API resources rather than a module, e.g. ``/crm/v8/settings/x``,
→ 404 ``INVALID_URL_PATTERN``; no ``data`` list →
``REQUIRED_PARAM_MISSING``; more than 100 records → ``LIMIT_EXCEEDED``; upsert on Tasks, Calls
or Events → ``INVALID_MODULE``); then each record gets its own result (see ``records``).
Credits: 1 per 10 records, rounded up.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from emulators.zoho import records
from emulators.zoho.errors import (
    invalid_body,
    invalid_module,
    limit_exceeded,
    not_found_url,
    required_param,
)
from emulators.zoho.oauth import require_token, state_of
from emulators.zoho.org import NO_UPSERT_MODULES, ModuleDef
from emulators.zoho.state import ZohoState

MAX_RECORDS = 100

router = APIRouter(prefix="/crm/v8", dependencies=[Depends(require_token)])


#: First segments of Zoho's v8 paths that name an API resource, not a module (Zoho's OpenAPI
#: files; ``__apis``, ``__features`` and the like start with two underscores).
API_RESOURCES = frozenset({"actions", "coql", "files", "org", "settings", "upload", "users"})


def module_or_error(state: ZohoState, name: str) -> ModuleDef:
    """The module named where a module belongs in the URL, or Zoho's error for that segment."""
    module = state.module(name)
    if module is None:
        if name in API_RESOURCES or name.startswith("__"):
            raise not_found_url()
        raise invalid_module(0)
    return module


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise invalid_body() from None


async def batch(request: Request) -> tuple[list[Any], dict[str, Any]]:
    """The ``data`` list of a write body (checked for Zoho's 100-record limit)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid_body()
    items = body.get("data")
    if not isinstance(items, list) or not items:
        raise required_param("data")
    if len(items) > MAX_RECORDS:
        raise limit_exceeded(MAX_RECORDS, api_name="data")
    request.state.credits = max(1, math.ceil(len(items) / 10))
    return items, body


def answer(results: list[dict[str, Any]], success_status: int) -> JSONResponse:
    return JSONResponse({"data": results}, status_code=records.status_of(results, success_status))


@router.post("/{module}")
async def insert(module: str, request: Request) -> JSONResponse:
    state = state_of(request)
    mod = module_or_error(state, module)
    items, _ = await batch(request)
    return answer([records.insert_one(state, mod, item, i) for i, item in enumerate(items)], 201)


@router.put("/{module}")
async def update(module: str, request: Request) -> JSONResponse:
    state = state_of(request)
    mod = module_or_error(state, module)
    items, _ = await batch(request)
    return answer([records.update_one(state, mod, item, i) for i, item in enumerate(items)], 200)


@router.put("/{module}/{record_id}")
async def update_by_id(module: str, record_id: str, request: Request) -> JSONResponse:
    state = state_of(request)
    mod = module_or_error(state, module)
    items, _ = await batch(request)
    results = [records.update_one(state, mod, items[0], 0, record_id=record_id)]
    return answer(results, 200)


@router.post("/{module}/upsert")
async def upsert(module: str, request: Request) -> JSONResponse:
    state = state_of(request)
    mod = module_or_error(state, module)
    if mod.api_name in NO_UPSERT_MODULES:
        raise invalid_module(0)
    items, body = await batch(request)
    check = records.duplicate_check_fields(mod, body.get("duplicate_check_fields"))
    results = [records.upsert_one(state, mod, item, i, check) for i, item in enumerate(items)]
    return answer(results, 200)


@router.delete("/{module}")
async def delete_many(module: str, request: Request) -> JSONResponse:
    state = state_of(request)
    mod = module_or_error(state, module)
    ids = [i for i in request.query_params.get("ids", "").split(",") if i.strip()]
    if not ids:
        raise required_param("ids")
    if len(ids) > MAX_RECORDS:
        raise limit_exceeded(MAX_RECORDS, param="ids")
    return answer([records.delete_one(state, mod, i.strip()) for i in ids], 200)


@router.delete("/{module}/{record_id}")
async def delete_one(module: str, record_id: str, request: Request) -> JSONResponse:
    state = state_of(request)
    mod = module_or_error(state, module)
    return answer([records.delete_one(state, mod, record_id)], 200)
