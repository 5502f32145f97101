"""Ringostat call-log emulator: a FastAPI app speaking ``GET /calls/list`` like the real API.

Vendor behaviour reproduced (Ringostat's API documentation and help centre):

- header ``Auth-key``: missing or unknown → 401, the key of another project → 403, both with a
  JSON error body;
- ``from``/``to`` as ``YYYY-MM-DD HH:MM:SS`` wall-clock time in the project's time zone, rows with
  ``from <= calldate <= to`` (closed on both ends); default the last 24 hours by the injected clock;
- ``fields`` (comma list; an unknown name → 400 ``incorrect field: <name>``), ``filters``
  (``name=value``, several joined with ``,``), ``order`` (``calldate asc`` default, or ``desc``);
- ``export_type`` ``json`` (an array of objects) or ``csv`` (``;`` separated, header row);
- at most ``max_rows`` (6,500) rows per answer, cut silently: clients must split the period.

Admin API (SPEC section 11): ``POST /__emulator__/reset``, ``POST /__emulator__/calls`` (a JSON
array of rows in Ringostat field names; a known ``uniqueid`` replaces its row) and
``GET /__emulator__/stats`` (``{"requests": N, "calls": M}``; ``requests`` counts ``/calls/list``),
``PUT /__emulator__/faults`` (body, every key optional: ``{"answer": {"status": 200, "body": "",
"content_type": "application/json"}}``: every ``/calls/list`` request with a valid key gets that
answer instead of the call list, as a broken proxy or a vendor incident would send it; ``{}`` or
``{"answer": null}`` ends it; the current faults are the answer).
Webhooks (SPEC 12, :mod:`emulators.ringostat.webhooks`): ``PUT``/``GET /__emulator__/webhooks``,
``GET /__emulator__/webhooks/errors``, ``GET /__emulator__/webhooks/deliveries``; posting calls
sends the webhooks their progress makes due, and answers once they were answered.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from emulators.ringostat.fields import KNOWN_FIELD_SET, KNOWN_FIELDS
from emulators.ringostat.state import RingostatState, parse_wire_time
from emulators.ringostat.webhooks import WebhookSender, WebhookSettings

_DAY = 24 * 3600


class AnswerOverride(BaseModel):
    """What ``/calls/list`` answers instead of the call list while the fault is on."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(default=200, ge=100, le=599)
    body: str = ""
    content_type: str = "application/json"


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: AnswerOverride | None = None


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


def create_app(
    state: RingostatState | None = None,
    *,
    auth_key: str = "demo-key",
    other_project_keys: Sequence[str] = ("other-project-key",),
) -> FastAPI:
    """Build the emulator. ``auth_key`` opens this project's call log; ``other_project_keys``
    are valid keys of other projects (they get 403). The state is at ``app.state.ringostat``."""
    app = FastAPI(title="Ringostat emulator", docs_url=None, redoc_url=None)
    app.state.ringostat = state if state is not None else RingostatState()
    app.state.webhooks = WebhookSender()
    app.state.answer_override = None
    foreign = frozenset(other_project_keys)

    def current(request: Request) -> RingostatState:
        st: RingostatState = request.app.state.ringostat
        return st

    @app.get("/calls/list")
    async def calls_list(request: Request) -> Response:
        st = current(request)
        st.requests += 1
        key = request.headers.get("auth-key", "")
        if not key or (key != auth_key and key not in foreign):
            return _error(401, "Unauthorized: the Auth-key header is missing or invalid")
        if key != auth_key:
            return _error(403, "Forbidden: this Auth-key belongs to another project")
        override: AnswerOverride | None = request.app.state.answer_override
        if override is not None:
            return Response(
                override.body, status_code=override.status, media_type=override.content_type
            )
        try:
            return _list(st, request.query_params)
        except _ApiError as exc:
            return _error(exc.status, exc.message)

    @app.post("/__emulator__/reset")
    async def reset(request: Request) -> dict[str, Any]:
        current(request).reset()
        request.app.state.webhooks.reset()
        request.app.state.answer_override = None
        return {"status": "ok"}

    @app.put("/__emulator__/faults")
    async def put_faults(request: Request) -> Response:
        try:
            faults = Faults.model_validate(await request.json())
        except ValueError as exc:
            return _error(400, f"faults: {str(exc).splitlines()[0]}")
        request.app.state.answer_override = faults.answer
        return JSONResponse(faults.model_dump())

    @app.post("/__emulator__/calls")
    async def post_calls(request: Request) -> Response:
        st = current(request)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body must be a JSON array of call rows")
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            return _error(400, "body must be a JSON array of call rows")
        stored = st.upsert(body)
        sender: WebhookSender = request.app.state.webhooks
        due = sender.due(body)
        await sender.send(due)
        return JSONResponse({"stored": stored, "calls": len(st), "webhooks": len(due)})

    @app.put("/__emulator__/webhooks")
    async def put_webhooks(request: Request) -> Response:
        try:
            settings = WebhookSettings.model_validate(await request.json())
        except ValueError as exc:
            return _error(400, f"webhook settings: {str(exc).splitlines()[0]}")
        sender: WebhookSender = request.app.state.webhooks
        sender.settings = settings
        return JSONResponse(sender.summary())

    @app.get("/__emulator__/webhooks")
    async def get_webhooks(request: Request) -> dict[str, Any]:
        sender: WebhookSender = request.app.state.webhooks
        return sender.summary()

    @app.get("/__emulator__/webhooks/errors")
    async def webhook_errors(request: Request) -> dict[str, Any]:
        sender: WebhookSender = request.app.state.webhooks
        return {"errors": sender.errors}

    @app.get("/__emulator__/webhooks/deliveries")
    async def webhook_deliveries(request: Request) -> dict[str, Any]:
        sender: WebhookSender = request.app.state.webhooks
        return {"deliveries": sender.deliveries}

    @app.get("/__emulator__/stats")
    async def stats(request: Request) -> dict[str, Any]:
        st = current(request)
        return {"requests": st.requests, "calls": len(st)}

    return app


def _list(st: RingostatState, params: Mapping[str, str]) -> Response:
    fields = _fields(params.get("fields"))
    start, end = _period(st, params.get("from"), params.get("to"))
    filters = _filters(params.get("filters"))
    descending = _order(params.get("order"))
    export_type = (params.get("export_type") or "json").strip().lower()
    if export_type not in ("json", "csv"):
        raise _ApiError(400, f"incorrect export_type: {export_type}")
    rows = st.query(start, end, filters=filters, descending=descending)
    projected = [dict(zip(fields, map(row.get, fields), strict=True)) for row in rows]
    if export_type == "csv":
        # A lone surrogate has no UTF-8 form: sent as a careless encoder would (invalid bytes).
        csv_body = _to_csv(fields, projected).encode("utf-8", "surrogatepass")
        return Response(csv_body, media_type="text/csv; charset=utf-8")
    try:
        body = json.dumps(projected, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate posted as "\ud800": sent back as that escape
        body = json.dumps(projected).encode()
    return Response(body, media_type="application/json")


def _fields(raw: str | None) -> list[str]:
    if raw is None or not raw.strip():
        return list(KNOWN_FIELDS)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in KNOWN_FIELD_SET:
            raise _ApiError(400, f"incorrect field: {name}")
    return names


def _period(st: RingostatState, raw_from: str | None, raw_to: str | None) -> tuple[int, int]:
    def parse(name: str, text: str) -> int:
        try:
            return parse_wire_time(text.strip())
        except ValueError:
            raise _ApiError(400, f"incorrect {name}: expected YYYY-MM-DD HH:MM:SS") from None

    end = parse("to", raw_to) if raw_to else None
    start = parse("from", raw_from) if raw_from else None
    if end is None:
        end = st.now_wall() if start is None else max(st.now_wall(), start)
    if start is None:
        start = end - _DAY
    return start, end


def _filters(raw: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise _ApiError(400, f"incorrect filters: {raw!r} (expected name=value)")
        if name not in KNOWN_FIELD_SET:
            raise _ApiError(400, f"incorrect field: {name}")
        out[name] = value.strip()
    return out


def _order(raw: str | None) -> bool:
    if raw is None or not raw.strip():
        return False
    words = raw.replace("+", " ").split()
    if len(words) == 1 and words[0].lower() == "calldate":
        return False
    if len(words) == 2 and words[0].lower() == "calldate" and words[1].lower() in ("asc", "desc"):
        return words[1].lower() == "desc"
    raise _ApiError(400, f"incorrect order: {raw}")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _to_csv(fields: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in fields])
    return buffer.getvalue()


__all__ = ["RingostatState", "create_app"]
