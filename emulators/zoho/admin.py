"""The emulator's admin API under ``/__emulator__`` (SPEC section 11). No token, not counted.

- ``POST /__emulator__/reset``: the default org (see ``org``), faults and counters cleared.
- ``POST /__emulator__/seed``: adds ``roles``, ``users``, records of any module (``Leads``,
  ``Contacts``, ``Deals``, ...) in Zoho's own shapes, and ``oauth.refresh_tokens`` (the only
  refresh tokens then accepted). Records are stored as given (no validation: a seed may set
  ``Created_Time``/``Modified_Time`` in the past); those without ``id`` get one. Answers the ids
  given out, per module, in input order. Org settings, applied before the records:

  - ``deal_stages``: custom Deal stages added to the ``Stage`` picklist (the defaults are
    Zoho's, "Closed-Lost to Competition" included), each ``{"display_value": "Lost - no
    budget", "forecast_type": "Closed Lost"}`` (``actual_value`` defaults to the display value,
    ``forecast_type`` to ``Open``, ``probability`` by type). ``GET /settings/fields?module=Deals``
    lists them with their ``forecast_type`` and ``forecast_category``;
  - ``business_hours``: the org's Business Hours, Zoho's object as ``GET
    /settings/business_hours`` answers it, e.g. ``{"type": "custom", "business_days":
    ["Monday", "Friday"], "same_as_everyday": true, "daily_timing": ["09:00", "18:00"]}``
    (``type`` ``24_by_7``, ``24_by_5`` or ``custom``); ``null`` removes them (the endpoint then
    answers 204, as an org without business hours does).
  Seeded records are changes like any other: channels watching their module are notified
  (``watch``), as Zoho notifies of records a web form or an import creates.
- ``GET /__emulator__/dump``: every record of Leads, Contacts, Deals, Tasks, Calls as GET shows it.
- ``PUT /__emulator__/faults``: merge fault settings; answers the full settings.
- ``GET /__emulator__/stats``: ``{"requests", "credits", "by_route", "max_in_flight"}``.

Every route also answers under ``/__emulator__/orgs/<org>/`` for the named org ``<org>`` of a
multi-org emulator (created by its first call; :mod:`emulators.zoho.orgs`), where the seed's
``oauth`` may also list ``client_ids``: the credentials that pick the org. ``GET
/__emulator__/orgs`` lists the named orgs with their counters.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from emulators.zoho import records
from emulators.zoho.oauth import state_of
from emulators.zoho.orgs import Orgs
from emulators.zoho.state import Record, ZohoState
from emulators.zoho.validation import parse_datetime

router = APIRouter(prefix="/__emulator__")

OAUTH_KEYS = ("refresh_tokens", "client_ids")

#: Lookup targets first, so that seeded lookups can point at seeded records.
SEED_ORDER = ("Accounts", "Leads", "Contacts", "Deals", "Tasks", "Calls")


def _ref(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and value.get("id") is not None:
        return {"id": str(value["id"])}
    if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
        return {"id": str(value)}
    return None


def _when(value: Any, default: datetime) -> datetime:
    if isinstance(value, str) and (parsed := parse_datetime(value)) is not None:
        return parsed
    return default


def seed_record(state: ZohoState, module_name: str, raw: dict[str, Any]) -> str:
    """Store one seeded record, normalizing refs and system times; returns its id."""
    module = state.modules[module_name]
    values: Record = {}
    for name, value in raw.items():
        fdef = module.get(name)
        if fdef is not None and fdef.data_type in ("lookup", "ownerlookup"):
            values[name] = _ref(value)
        else:
            values[name] = value
    for name in ("Owner", "Created_By", "Modified_By"):
        if values.get(name) is None:
            values.pop(name, None)  # new_record fills in the current user
    created = _when(raw.get("Created_Time"), state.now())
    values["Created_Time"] = created
    values["Modified_Time"] = _when(raw.get("Modified_Time"), created)
    record = records.new_record(state, module, values, record_id=str(raw.get("id") or "") or None)
    records.store(state, module, record)
    return str(record["id"])


@router.post("/reset")
async def reset(request: Request) -> JSONResponse:
    state_of(request).reset()
    return JSONResponse({"ok": True})


@router.post("/seed")
async def seed(request: Request) -> JSONResponse:
    state = state_of(request)
    body = await request.json()
    if not isinstance(body, dict):
        return JSONResponse({"error": "seed body must be an object"}, status_code=422)
    settings_keys = ("roles", "users", "oauth", "deal_stages", "business_hours")
    unknown = [k for k in body if k not in settings_keys and k not in state.modules]
    unknown += [f"oauth.{k}" for k in body.get("oauth") or {} if k not in OAUTH_KEYS]
    if unknown:
        return JSONResponse({"error": f"unknown seed keys: {unknown}"}, status_code=422)
    try:
        for stage in body.get("deal_stages") or []:
            state.add_deal_stage(stage)
        if "business_hours" in body:
            state.set_business_hours(body["business_hours"])
    except (ValueError, AttributeError) as exc:
        return JSONResponse({"error": f"bad org settings: {exc}"}, status_code=422)
    for role in body.get("roles") or []:
        state.add_role(role)
    users = [state.add_user(u)["id"] for u in body.get("users") or []]
    ids: dict[str, list[str]] = {"users": users}
    for module_name in SEED_ORDER:
        rows = body.get(module_name) or []
        ids[module_name] = [seed_record(state, module_name, row) for row in rows]
    oauth = body.get("oauth") or {}
    tokens = oauth.get("refresh_tokens")
    if tokens is not None:
        state.valid_refresh_tokens = (state.valid_refresh_tokens or set()) | {
            str(t) for t in tokens
        }
    if state.org is not None:
        orgs: Orgs = request.app.state.orgs
        orgs.register(
            state,
            client_ids=[str(c) for c in oauth.get("client_ids") or []],
            refresh_tokens=[str(t) for t in tokens or []],
        )
    return JSONResponse({"ok": True, "ids": {k: v for k, v in ids.items() if v}})


@router.get("/orgs")
async def list_orgs(request: Request) -> JSONResponse:
    orgs: Orgs = request.app.state.orgs
    return JSONResponse({"orgs": orgs.summary()})


@router.get("/dump")
async def dump(request: Request) -> JSONResponse:
    return JSONResponse(state_of(request).dump())


@router.put("/faults")
async def faults(request: Request) -> JSONResponse:
    state = state_of(request)
    body = await request.json()
    if not isinstance(body, dict):
        return JSONResponse({"error": "faults body must be an object"}, status_code=422)
    try:
        settings = state.set_faults(body)
    except ValidationError as exc:
        return JSONResponse({"error": json.loads(exc.json(include_url=False))}, status_code=422)
    return JSONResponse(settings.model_dump())


@router.get("/stats")
async def stats(request: Request) -> JSONResponse:
    return JSONResponse(state_of(request).stats.as_json())
