"""What can go wrong talking to Zoho CRM, named by what the caller must do.

Every class is a :class:`tasks.vendor.errors.VendorError`; Zoho's ``RetriableError``,
``AuthError`` and ``FatalError`` are also the shared classes of those names (see
:mod:`tasks.vendor.errors`), the others are Zoho's own::

    ZohoError                 base: Zoho's ``code``, ``message``, ``details`` and the HTTP status
    ├── RetriableError        429, 5xx, timeouts, transport errors before a request was sent:
    │                         the client retries with backoff (a whole task may be retried later)
    ├── OutcomeUnknown        a transport error after a non-idempotent write was sent: Zoho may or
    │                         may not have applied it; look the sync keys up before re-sending
    ├── AuthError             401 INVALID_TOKEN / AUTHENTICATION_FAILURE (refresh once, then
    │                         fatal), a refresh token Zoho refuses, a missing OAuth scope
    ├── CreditsExhausted      429 for the org's spent 24-hour API credit budget: not transient
    │                         within a run — stop writing at once, leave the calls pending, exit
    │                         non-zero; a later run continues
    ├── RecordRejected        one record of a batch failed (``INVALID_DATA``, ...): fail that
    │                         record alone and keep Zoho's code, message and details
    └── FatalError            anything else (``INVALID_MODULE``, ``INVALID_QUERY``, 403, ...):
                              do not retry, a person must look

:func:`classify` is the one place mapping an answer to these errors. It judges an
:class:`httpx.Response` at request level, and one item of a ``data`` array (a per-record result,
which Zoho puts inside 2xx and 400 bodies) at record level. :func:`from_transport_error`
translates httpx's exceptions at the client boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tasks.vendor import errors as vendor

REFRESHABLE_CODES = frozenset({"INVALID_TOKEN", "AUTHENTICATION_FAILURE"})
"""401 codes a fresh access token can cure (Zoho uses either for an expired token)."""


class ZohoError(vendor.VendorError):
    """Base of every Zoho failure. ``details`` is Zoho's own ``details`` object, unchanged."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.code = code
        self.details: Mapping[str, Any] = dict(details or {})

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status is not None else ""
        code = f"{self.code}: " if self.code else ""
        return f"{where}{code}{self.message}"


class RetriableError(ZohoError, vendor.RetriableError):
    """Transient: the same request may succeed later (429, 5xx, timeouts, connect errors)."""


class OutcomeUnknown(ZohoError):
    """A write was sent and its answer was lost: it may have been applied."""


class AuthError(ZohoError, vendor.AuthError):
    """Authentication failed. ``refreshable``: a new access token may cure it (once)."""

    @property
    def refreshable(self) -> bool:
        return self.code in REFRESHABLE_CODES


class CreditsExhausted(ZohoError):
    """The org's 24-hour API credit budget is spent: no request will succeed for hours.

    Zoho answers 429 ``TOO_MANY_REQUESTS`` both for this and for too many requests in flight.
    :func:`classify` recognises the budget by its message (:func:`is_credit_message`); the client
    also concludes it when a 429 persists while it had a single request in flight.
    """


def is_credit_message(message: str) -> bool:
    """Whether a 429's message speaks of the credit budget rather than of concurrency."""
    text = message.lower()
    if "concurren" in text or "continuously" in text:
        return False
    return "credit" in text or ("limit" in text and any(w in text for w in ("24", "day", "daily")))


class RecordRejected(ZohoError):
    """Zoho refused one record; the rest of its batch is unaffected."""


class FatalError(ZohoError, vendor.FatalError):
    """Retrying will not help: configuration, permissions or a bug."""


def response_json(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when it is empty or not JSON (Zoho's 204/304, a proxy page)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def classify(answer: httpx.Response | Mapping[str, Any]) -> ZohoError | None:
    """The error an answer means, or None when it is a success.

    An :class:`httpx.Response` is judged at request level: a body with a ``data`` array (201, 207,
    and the 400 where every record failed) is not a request-level error, its items are judged one
    by one; so are 200/202/204/304. A mapping is one item of such a ``data`` array:
    ``status: "success"`` is None, anything else a :class:`RecordRejected` (``DUPLICATE_DATA``
    included: only the caller knows whether the duplicate field is its idempotency key).
    """
    if not isinstance(answer, httpx.Response):
        return _classify_item(answer)
    status = answer.status_code
    body = response_json(answer)
    obj: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    code = _text(obj.get("code"))
    message = _text(obj.get("message")) or answer.reason_phrase or "no message"
    details = obj.get("details") if isinstance(obj.get("details"), Mapping) else None

    if status == 429:
        if is_credit_message(message):
            return CreditsExhausted(message, code=code or "TOO_MANY_REQUESTS", status=status)
        return RetriableError(message, code=code or "TOO_MANY_REQUESTS", status=status)
    if status >= 500:
        return RetriableError(message, code=code or "INTERNAL_ERROR", status=status)
    if "error" in obj and "access_token" not in obj:
        # The token endpoint answers a bad grant with HTTP 200 (sometimes 400) and an "error".
        return AuthError(
            _text(obj.get("error_description")) or _text(obj.get("error")),
            code=_text(obj.get("error")),
            status=status,
        )
    if status < 400 or isinstance(obj.get("data"), list):
        return None
    if status == 401:
        return AuthError(
            message, code=code or "AUTHENTICATION_FAILURE", status=status, details=details
        )
    if code == "OAUTH_SCOPE_MISMATCH":
        return AuthError(message, code=code, status=status, details=details)
    return FatalError(message, code=code or f"HTTP_{status}", status=status, details=details)


def _classify_item(item: Mapping[str, Any]) -> ZohoError | None:
    if _text(item.get("status")).lower() == "success":
        return None
    details = item.get("details")
    return RecordRejected(
        _text(item.get("message")) or "record rejected",
        code=_text(item.get("code")) or "UNKNOWN",
        details=details if isinstance(details, Mapping) else None,
    )


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def from_transport_error(exc: httpx.TransportError, *, idempotent: bool) -> ZohoError:
    """Translate an httpx failure. Raise the result ``from exc``.

    Before the request left (connect errors, pool timeouts) any request may simply be retried.
    After it left, a read or an idempotent write (update, COQL, GET) is retried too; a
    non-idempotent write (insert, convert) becomes :class:`OutcomeUnknown`.
    """
    name = type(exc).__name__
    where = _origin(exc)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
        return FatalError(f"cannot reach Zoho at {where}: {name}: {exc}", code=name)
    if idempotent or isinstance(exc, _NOT_SENT):
        return RetriableError(f"transport error talking to {where}: {exc}", code=name)
    return OutcomeUnknown(f"answer lost after the write was sent to {where}: {exc}", code=name)


def _origin(exc: httpx.TransportError) -> str:
    """Scheme and host of the failed request (never its query: no secret rides there)."""
    try:
        url = exc.request.url
    except RuntimeError:  # an exception raised without its request
        return "Zoho"
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
