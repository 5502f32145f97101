"""classify(): every Zoho answer shape → the error the caller must handle (one table)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tasks.zoho.errors import (
    AuthError,
    FatalError,
    OutcomeUnknown,
    RecordRejected,
    RetriableError,
    ZohoError,
    classify,
    from_transport_error,
)


def _resp(status: int, body: Any = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status)
    return httpx.Response(status, json=body)


def _err(code: str, message: str = "m", **details: Any) -> dict[str, Any]:
    return {"code": code, "details": details, "message": message, "status": "error"}


_DUP = {
    "api_name": "rs_sync_key",
    "json_path": "$.data[0].rs_sync_key",
    "duplicate_record": {"id": "9001", "module": {"api_name": "Leads", "id": "1"}},
}

CASES: list[tuple[str, httpx.Response | dict[str, Any], type[ZohoError] | None, str]] = [
    # request level: successes and "nothing"
    ("201 all inserted", _resp(201, {"data": [{"status": "success", "code": "SUCCESS"}]}), None, ""),
    ("207 mixed batch", _resp(207, {"data": [{"status": "success"}, _err("INVALID_DATA")]}), None, ""),
    ("400 every record failed", _resp(400, {"data": [_err("MANDATORY_NOT_FOUND")]}), None, ""),
    ("200 list", _resp(200, {"data": [], "info": {"more_records": False}}), None, ""),
    ("204 empty body", _resp(204), None, ""),
    ("304 not modified", _resp(304), None, ""),
    ("200 token", _resp(200, {"access_token": "t", "expires_in": 3600}), None, ""),
    # request level: errors
    ("429", _resp(429, _err("TOO_MANY_REQUESTS")), RetriableError, "TOO_MANY_REQUESTS"),
    ("429 without body", _resp(429), RetriableError, "TOO_MANY_REQUESTS"),
    ("500", _resp(500, _err("INTERNAL_ERROR")), RetriableError, "INTERNAL_ERROR"),
    ("502 html", httpx.Response(502, text="<html>bad gateway</html>"), RetriableError, "INTERNAL_ERROR"),
    ("503 with data", _resp(503, {"data": []}), RetriableError, "INTERNAL_ERROR"),
    ("401 INVALID_TOKEN", _resp(401, _err("INVALID_TOKEN", "invalid oauth token")), AuthError, "INVALID_TOKEN"),
    ("401 AUTHENTICATION_FAILURE", _resp(401, _err("AUTHENTICATION_FAILURE")), AuthError, "AUTHENTICATION_FAILURE"),
    ("401 OAUTH_SCOPE_MISMATCH", _resp(401, _err("OAUTH_SCOPE_MISMATCH")), AuthError, "OAUTH_SCOPE_MISMATCH"),
    ("200 token error", _resp(200, {"error": "invalid_code"}), AuthError, "invalid_code"),
    ("400 token flood", _resp(400, {"error": "Access Denied", "error_description": "too many requests"}), AuthError, "Access Denied"),
    ("400 INVALID_MODULE", _resp(400, _err("INVALID_MODULE", resource_path_index=0)), FatalError, "INVALID_MODULE"),
    ("400 INVALID_QUERY", _resp(400, _err("INVALID_QUERY")), FatalError, "INVALID_QUERY"),
    ("400 LIMIT_EXCEEDED", _resp(400, _err("LIMIT_EXCEEDED")), FatalError, "LIMIT_EXCEEDED"),
    ("403 NO_PERMISSION", _resp(403, _err("NO_PERMISSION")), FatalError, "NO_PERMISSION"),
    ("404 no body", _resp(404), FatalError, "HTTP_404"),
    # record level: one item of a data array
    ("item success", {"status": "success", "code": "SUCCESS", "details": {"id": "1"}}, None, ""),
    ("item INVALID_DATA", _err("INVALID_DATA", api_name="Phone", maximum_length=30), RecordRejected, "INVALID_DATA"),
    ("item MANDATORY_NOT_FOUND", _err("MANDATORY_NOT_FOUND", api_name="Last_Name"), RecordRejected, "MANDATORY_NOT_FOUND"),
    ("item DUPLICATE_DATA", _err("DUPLICATE_DATA", **_DUP), RecordRejected, "DUPLICATE_DATA"),
    ("item without status", {"code": "WEIRD"}, RecordRejected, "WEIRD"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "kind", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(
    answer: httpx.Response | dict[str, Any], kind: type[ZohoError] | None, code: str
) -> None:
    err = classify(answer)
    if kind is None:
        assert err is None
    else:
        assert type(err) is kind
        assert err is not None and err.code == code


def test_record_rejected_keeps_zoho_details() -> None:
    err = classify(_err("DUPLICATE_DATA", "duplicate data", **_DUP))
    assert isinstance(err, RecordRejected)
    assert err.message == "duplicate data"
    assert err.details["duplicate_record"]["id"] == "9001"


def test_auth_error_refreshable_only_for_token_codes() -> None:
    expired = classify(_resp(401, _err("INVALID_TOKEN")))
    scope = classify(_resp(401, _err("OAUTH_SCOPE_MISMATCH")))
    assert isinstance(expired, AuthError) and expired.refreshable
    assert isinstance(scope, AuthError) and not scope.refreshable


_REQ = httpx.Request("POST", "https://www.zohoapis.eu/crm/v8/Leads")


@pytest.mark.parametrize(
    ("exc", "idempotent", "kind"),
    [
        (httpx.ConnectError("refused", request=_REQ), False, RetriableError),
        (httpx.ConnectTimeout("slow", request=_REQ), False, RetriableError),
        (httpx.PoolTimeout("pool", request=_REQ), False, RetriableError),
        (httpx.ReadTimeout("slow", request=_REQ), False, OutcomeUnknown),
        (httpx.RemoteProtocolError("dropped", request=_REQ), False, OutcomeUnknown),
        (httpx.ReadError("reset", request=_REQ), False, OutcomeUnknown),
        (httpx.WriteError("reset", request=_REQ), False, OutcomeUnknown),
        (httpx.ReadTimeout("slow", request=_REQ), True, RetriableError),
        (httpx.RemoteProtocolError("dropped", request=_REQ), True, RetriableError),
        (httpx.UnsupportedProtocol("ftp", request=_REQ), True, FatalError),
    ],
)
def test_transport_errors(
    exc: httpx.TransportError, idempotent: bool, kind: type[ZohoError]
) -> None:
    assert type(from_transport_error(exc, idempotent=idempotent)) is kind
