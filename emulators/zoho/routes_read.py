"""Read routes: ``/crm/v8/{module}`` list, get one, deleted, search; and ``/crm/v8/coql``.

Quirks reproduced:

- list: ``fields`` is mandatory (``REQUIRED_PARAM_MISSING``); ``per_page`` ≤ 200; ``sort_by`` is
  ``id``, ``Created_Time`` or ``Modified_Time`` (default ``id``, ``desc``); ``page`` reaches only
  the first 2,000 records, past them ``page_token`` (from ``info.next_page_token``, valid 24 h)
  is required; ``If-Modified-Since`` keeps records modified after it and answers 304 when none;
- Leads lists and searches leave converted leads out unless ``converted=true|both``;
- search: exactly one of ``criteria``, ``email``, ``phone``, ``word``; 204 with an empty body
  when nothing matches; ≤ 200 per page and 2,000 results in all; ``email`` and ``phone`` look
  in every field of that type and match a whole value, as an exact e-mail address (any case) or
  the same phone number written with other spacing and punctuation (``+380 50 123 4567`` is
  ``+380501234567``), never a fragment of one (ends-with needs COQL's ``like``);
- a missing record answers 204;
- COQL answers ``{"data": [...], "info": {"count", "more_records"}}`` or 204; its credits follow
  the query's ``limit``: 1 (≤ 200), 2 (≤ 1,000), 3 (≤ 2,000).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from emulators.zoho import coql, coql_eval
from emulators.zoho.criteria import parse_criteria
from emulators.zoho.errors import ZohoError, invalid_param, limit_exceeded, required_param
from emulators.zoho.oauth import require_token, state_of
from emulators.zoho.org import ModuleDef
from emulators.zoho.routes_meta import int_param
from emulators.zoho.routes_write import json_body, module_or_error
from emulators.zoho.state import PageToken, Record, ZohoState
from emulators.zoho.validation import parse_datetime

router = APIRouter(prefix="/crm/v8", dependencies=[Depends(require_token)])

MAX_PAGED = 2000
MAX_FIELDS = 50
TOKEN_LIFE = timedelta(days=1)
SORTABLE = ("id", "Created_Time", "Modified_Time")


def _fields_param(module: ModuleDef, raw: str | None, required: bool) -> list[str] | None:
    if not raw:
        if required:
            raise required_param("fields")
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > MAX_FIELDS:
        raise limit_exceeded(MAX_FIELDS, param="fields")
    for name in names:
        if module.get(name) is None:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"api_name": name})
    return names


def _converted_filter(module: ModuleDef, request: Request) -> Callable[[Record], bool]:
    mode = request.query_params.get("converted", "false")
    if mode not in ("true", "false", "both"):
        raise invalid_param("converted")
    if module.api_name != "Leads" or mode == "both":
        return lambda r: True
    want = mode == "true"
    return lambda r: bool(r.get("Converted__s")) == want


def _since(request: Request) -> datetime | None:
    raw = request.headers.get("if-modified-since")
    if not raw:
        return None
    parsed = parse_datetime(raw.strip())
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"header_name": "If-Modified-Since"})
    return parsed


def _sort_value(record: Record, key: str) -> Any:
    return int(record["id"]) if key == "id" else record[key]


def _issue_token(state: ZohoState, signature: str, offset: int) -> tuple[str, PageToken]:
    token = state.new_token("pt")
    entry = PageToken(signature, offset, state.now() + TOKEN_LIFE)
    state.page_tokens[token] = entry
    return token, entry


@router.post("/coql")
async def run_coql(request: Request) -> Response:
    state = state_of(request)
    body = await json_body(request)
    text = body.get("select_query") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ZohoError(
            400, "INVALID_QUERY", "invalid query formed", {"reason": "select_query missing"}
        )
    query = coql.parse(text)
    request.state.credits = coql.credits_for_limit(query.limit)
    rows, more = coql_eval.execute(state, query)
    if not rows:
        return Response(status_code=204)
    return JSONResponse({"data": rows, "info": {"count": len(rows), "more_records": more}})


@router.get("/{module}/deleted")
async def deleted(module: str, request: Request) -> Response:
    state = state_of(request)
    mod = module_or_error(state, module)
    kind = request.query_params.get("type", "all")
    if kind not in ("all", "recycle", "permanent"):
        raise invalid_param("type")
    page = int_param(request, "page", 1, 1, 10_000)
    per_page = int_param(request, "per_page", 200, 1, 200)
    rows = [d for d in state.deleted[mod.api_name] if kind in ("all", d["type"])]
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk:
        return Response(status_code=204)
    more = len(rows) > page * per_page
    info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": more}
    return JSONResponse({"data": chunk, "info": info})


@router.get("/{module}/search")
async def search(module: str, request: Request) -> Response:
    state = state_of(request)
    mod = module_or_error(state, module)
    given = [k for k in ("criteria", "email", "phone", "word") if request.query_params.get(k)]
    if not given:
        raise required_param("criteria")
    if len(given) > 1:
        raise invalid_param(given[1])
    kind, value = given[0], request.query_params[given[0]]
    fields = _fields_param(mod, request.query_params.get("fields"), required=False)
    page = int_param(request, "page", 1, 1, 10_000)
    per_page = int_param(request, "per_page", 200, 1, 200)
    if page * per_page > MAX_PAGED:
        raise limit_exceeded(MAX_PAGED, param="page")
    keep = _converted_filter(mod, request)
    match = _search_predicate(mod, kind, value)
    hits = [r for r in state.records[mod.api_name].values() if keep(r) and match(r)][:MAX_PAGED]
    chunk = hits[(page - 1) * per_page : page * per_page]
    if not chunk:
        return Response(status_code=204)
    info = {
        "per_page": per_page,
        "count": len(chunk),
        "page": page,
        "more_records": len(hits) > page * per_page,
    }
    return JSONResponse(
        {"data": [state.render(mod.api_name, r, fields) for r in chunk], "info": info}
    )


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def _search_predicate(module: ModuleDef, kind: str, value: str) -> Callable[[Record], bool]:
    if kind == "criteria":
        return parse_criteria(module, value)
    if kind == "email":
        names = [f.api_name for f in module.fields_of_type("email")]
        wanted = value.casefold()
        return lambda r: any(str(r.get(n) or "").casefold() == wanted for n in names)
    if kind == "phone":
        names = [f.api_name for f in module.fields_of_type("phone")]
        digits = _digits(value)
        if not digits:
            raise invalid_param("phone")
        return lambda r: any(digits == _digits(r.get(n)) for n in names)
    names = [
        f.api_name for f in module.fields_of_type("text", "phone", "email", "picklist", "textarea")
    ]
    word = value.casefold()
    return lambda r: any(word in str(r.get(n) or "").casefold() for n in names)


@router.get("/{module}/{record_id}")
async def get_one(module: str, record_id: str, request: Request) -> Response:
    state = state_of(request)
    mod = module_or_error(state, module)
    record = state.find(mod.api_name, record_id)
    if record is None:
        return Response(status_code=204)
    fields = _fields_param(mod, request.query_params.get("fields"), required=False)
    return JSONResponse({"data": [state.render(mod.api_name, record, fields)]})


@router.get("/{module}")
async def list_records(module: str, request: Request) -> Response:
    state = state_of(request)
    mod = module_or_error(state, module)
    params = request.query_params
    fields = _fields_param(mod, params.get("fields"), required=True)
    sort_by = params.get("sort_by", "id")
    sort_order = params.get("sort_order", "desc")
    if sort_by not in SORTABLE:
        raise invalid_param("sort_by")
    if sort_order not in ("asc", "desc"):
        raise invalid_param("sort_order")
    per_page = int_param(request, "per_page", 200, 1, 200)
    since = _since(request)
    keep = _converted_filter(mod, request)
    signature = "|".join(
        [mod.api_name, sort_by, sort_order, str(since), params.get("converted", "false")]
    )
    offset = _offset(state, request, signature, per_page)
    rows = [
        r
        for r in state.records[mod.api_name].values()
        if keep(r) and (since is None or r["Modified_Time"] > since)
    ]
    if since is not None and not rows:
        return Response(status_code=304)
    rows.sort(key=lambda r: _sort_value(r, sort_by), reverse=sort_order == "desc")
    chunk = rows[offset : offset + per_page]
    if not chunk:
        return Response(status_code=204)
    more = len(rows) > offset + per_page
    nxt = _issue_token(state, signature, offset + per_page) if more else None
    prev = _issue_token(state, signature, max(0, offset - per_page)) if offset > 0 else None
    info = {
        "per_page": per_page,
        "count": len(chunk),
        "page": offset // per_page + 1,
        "sort_by": sort_by,
        "sort_order": sort_order,
        "more_records": more,
        "next_page_token": nxt[0] if nxt else None,
        "previous_page_token": prev[0] if prev else None,
        "page_token_expiry": state.iso(nxt[1].expires_at) if nxt else None,
    }
    return JSONResponse(
        {"data": [state.render(mod.api_name, r, fields) for r in chunk], "info": info}
    )


def _offset(state: ZohoState, request: Request, signature: str, per_page: int) -> int:
    raw_token = request.query_params.get("page_token")
    if raw_token:
        token = state.page_tokens.get(raw_token)
        if token is None or token.signature != signature or state.now() >= token.expires_at:
            raise invalid_param("page_token")
        return token.offset
    page = int_param(request, "page", 1, 1, 10_000)
    if page * per_page > MAX_PAGED:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            {
                "limit": MAX_PAGED,
                "param": "page",
                "reason": "use page_token to go past 2000 records",
            },
        )
    return (page - 1) * per_page
