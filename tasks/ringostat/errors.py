"""What can go wrong reading Ringostat's call log, named by what the caller must do.

Every class is a :class:`tasks.vendor.errors.VendorError`; Ringostat's ``RetriableError``,
``FatalError`` and ``AuthError`` are also the shared classes of those names (see
:mod:`tasks.vendor.errors`), the others are Ringostat's own::

    RingostatError
    ├── RetriableError          429, 5xx, timeouts, dropped connections: retried inside the
    │                           client with backoff and jitter; raised once retries run out
    └── FatalError              retrying the same request cannot help
        ├── AuthError           401: the Auth-key is missing or wrong (ringostat.auth_key)
        ├── AccessDenied        403: the key belongs to another project / has no API access
        ├── IncorrectFieldError the API rejected a field name (``incorrect field``); .field
        └── WindowTooDenseError one second of the log holds the per-request cap or more

:func:`classify` is the one place that maps an HTTP answer to these classes. Messages never
contain the Auth-key: vendor text is scrubbed of the secrets the caller passes in, and phone-like
numbers in it are masked (last four digits).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from models.call import mask_numbers
from tasks.vendor import errors as vendor

AUTH_KEY_SETTING = "ringostat.auth_key"
AUTH_KEY_ENV = "CALLSYNC_RINGOSTAT__AUTH_KEY"

_INCORRECT_FIELD = re.compile(r"incorrect\s+fields?\W*([A-Za-z0-9_]+)?", re.IGNORECASE)
_VENDOR_TEXT_LIMIT = 300


class RingostatError(vendor.VendorError):
    """Base of every error the Ringostat client raises."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message, status=status_code)

    @property
    def status_code(self) -> int | None:
        """The HTTP status (None when no answer came): the shared ``status``, by httpx's name."""
        return self.status


class RetriableError(RingostatError, vendor.RetriableError):
    """A transient failure; the same request may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class FatalError(RingostatError, vendor.FatalError):
    """Retrying the same request cannot help; a person must change something."""


class AuthError(FatalError, vendor.AuthError):
    """The Auth-key was refused (401)."""


class AccessDenied(FatalError):
    """The Auth-key is valid but may not read this call log (403)."""


class IncorrectFieldError(FatalError):
    """The API does not know a requested field name."""

    def __init__(self, message: str, *, field: str | None, status_code: int | None) -> None:
        super().__init__(message, status_code=status_code)
        self.field = field


class WindowTooDenseError(FatalError):
    """One second of the log holds at least the per-request cap: it cannot be split further."""


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def vendor_message(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """The human part of an error answer (``message``/``error`` of a JSON body, else the text)."""
    text = response.text.strip()
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message", "detail") if body.get(k)]
        if parts:
            text = ": ".join(dict.fromkeys(parts))
    # Numbers masked: an error text may echo a row, and it goes to logs and the run's summary.
    return mask_numbers(_scrub(text[:_VENDOR_TEXT_LIMIT], secrets))


def _error_in_body(response: httpx.Response) -> bool:
    """A 2xx answer that is not a call list: Ringostat may report errors with status 200."""
    text = response.text.lstrip("\ufeff").strip()
    if "incorrect field" in text[:500].lower() and not text.startswith("["):
        return True
    if not text.startswith("{"):
        return False
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and bool(
        body.get("error") or str(body.get("status", "")).lower() == "error"
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare here, and the backoff covers it


def classify(response: httpx.Response, *, secrets: Iterable[str] = ()) -> RingostatError | None:
    """Map one answer of ``GET /calls/list`` to the error to raise, or None when it is usable."""
    status = response.status_code
    if 200 <= status < 300 and not _error_in_body(response):
        return None
    said = vendor_message(response, secrets)
    match = _INCORRECT_FIELD.search(said)
    if match is not None:
        field = match.group(1)
        return IncorrectFieldError(
            f"Ringostat does not know the field {field!r} (HTTP {status}): {said}",
            field=field,
            status_code=status,
        )
    if status == 401:
        return AuthError(
            "Ringostat refused the Auth-key (HTTP 401): set a valid API key of your Ringostat "
            f"project in the setting {AUTH_KEY_SETTING} (environment {AUTH_KEY_ENV}). "
            f"Ringostat said: {said}",
            status_code=status,
        )
    if status == 403:
        return AccessDenied(
            "Ringostat denied access to the call log (HTTP 403): the key in "
            f"{AUTH_KEY_SETTING} belongs to another Ringostat project or that project has no API "
            "access; use the API key of the project whose calls callsync syncs. "
            f"Ringostat said: {said}",
            status_code=status,
        )
    if status in (408, 429) or status >= 500:
        return RetriableError(
            f"Ringostat answered HTTP {status}: {said}",
            status_code=status,
            retry_after=_retry_after(response),
        )
    return FatalError(f"Ringostat answered HTTP {status}: {said}", status_code=status)
