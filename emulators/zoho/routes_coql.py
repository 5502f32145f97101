"""``POST /crm/v8/coql``: answers ``{"data": [...], "info": {"count", "more_records"}}``, or 204
with an empty body when nothing matches. Credits by the query's ``limit``: 1 (≤ 200),
2 (≤ 1,000), 3 (≤ 2,000).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from emulators.zoho import coql, coql_eval
from emulators.zoho.errors import ZohoError
from emulators.zoho.oauth import require_token, state_of
from emulators.zoho.routes_write import json_body

router = APIRouter(prefix="/crm/v8", dependencies=[Depends(require_token)])


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
