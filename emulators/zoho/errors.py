"""Zoho's error shapes.

Two kinds exist on the wire:

- a **request-level** error: one top-level object ``{"code", "details", "message", "status":
  "error"}`` with an HTTP error status (raise :class:`ZohoError`);
- a **per-record** error: the same object as one item of ``{"data": [...]}`` in a 2xx/207/400
  batch answer (build it with :func:`record_error`).

Messages are taken from the enum in Zoho's OpenAPI ``API_Exception`` so that answers validate.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

MSG_INVALID_DATA = "invalid data"
MSG_BAD_ID = "the id given seems to be invalid"
MSG_MANDATORY = "required field not found"
MSG_DUPLICATE = "duplicate data"


class ZohoError(Exception):
    """A request-level error answered as ``status`` with Zoho's error object."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }


def record_error(code: str, message: str, **details: Any) -> dict[str, Any]:
    """One per-record error item of a batch answer."""
    return {"code": code, "details": details, "message": message, "status": "error"}


def invalid_token() -> ZohoError:
    return ZohoError(401, "INVALID_TOKEN", "invalid oauth token")


def invalid_module(index: int = 0, api_name: str | None = None) -> ZohoError:
    """Unknown module in the URL (``resource_path_index``) or in a parameter (``api_name``)."""
    details: dict[str, Any] = (
        {"api_name": api_name} if api_name is not None else {"resource_path_index": index}
    )
    return ZohoError(400, "INVALID_MODULE", "The module name given seems to be invalid", details)


def required_param(param: str) -> ZohoError:
    return ZohoError(
        400,
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        {"param_name": param},
    )


def invalid_param(param: str) -> ZohoError:
    return ZohoError(
        400,
        "INVALID_DATA",
        "Please check whether the input values are correct",
        {"param": param},
    )


def invalid_body() -> ZohoError:
    return ZohoError(400, "INVALID_DATA", "body", {})


def limit_exceeded(limit: int, **details: Any) -> ZohoError:
    return ZohoError(400, "LIMIT_EXCEEDED", "Record count exceeded", {"limit": limit, **details})


def too_many_requests(message: str = "too many requests continuously") -> ZohoError:
    return ZohoError(429, "TOO_MANY_REQUESTS", message, {})


def internal_error(path: str = "") -> ZohoError:
    """Zoho names it ``INTERNAL_ERROR`` for records but ``INTERNAL_SERVER_ERROR`` for users."""
    code = "INTERNAL_SERVER_ERROR" if path.startswith("/crm/v8/users") else "INTERNAL_ERROR"
    return ZohoError(500, code, "Internal server error occurred.", {})


def not_found_url() -> ZohoError:
    return ZohoError(
        404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", {}
    )


def error_response(exc: ZohoError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def zoho_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZohoError)
    return error_response(exc)
