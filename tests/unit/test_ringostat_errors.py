"""classify(): one table from Ringostat's answers to the error the client raises."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tasks.ringostat.errors import (
    AccessDenied,
    AuthError,
    FatalError,
    IncorrectFieldError,
    RetriableError,
    RingostatError,
    classify,
)


def answer(
    status: int, body: Any = None, text: str | None = None, **headers: str
) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(200, [{"uniqueid": "a"}]), None),
        (answer(200, []), None),
        (answer(200, text="uniqueid;calldate\r\na;2025-03-28 10:00:00\r\n"), None),
        (answer(200, text=""), None),
        (answer(401, {"status": "error", "message": "Unauthorized"}), AuthError),
        (answer(401, text="Unauthorized"), AuthError),
        (answer(403, {"status": "error", "message": "Forbidden"}), AccessDenied),
        (answer(429, {"error": "Too many requests"}), RetriableError),
        (answer(408, text="timeout"), RetriableError),
        (answer(500, text="Internal Server Error"), RetriableError),
        (answer(502, text="<html>Bad Gateway</html>"), RetriableError),
        (answer(503, {"error": "maintenance"}), RetriableError),
        (answer(400, {"status": "error", "message": "incorrect field: foo"}), IncorrectFieldError),
        (answer(200, {"error": "Incorrect field 'foo'"}), IncorrectFieldError),  # error in a 200
        (answer(200, text="Incorrect fields: foo"), IncorrectFieldError),
        (answer(200, {"status": "error", "message": "something else"}), FatalError),
        (answer(400, {"status": "error", "message": "incorrect from"}), FatalError),
        (answer(404, text="Not Found"), FatalError),
    ],
)
def test_classify(response: httpx.Response, expected: type[RingostatError] | None) -> None:
    error = classify(response)
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert error is not None and error.status_code == response.status_code


def test_the_error_tree() -> None:
    for fatal in (AuthError, AccessDenied, IncorrectFieldError):
        assert issubclass(fatal, FatalError)
    assert not issubclass(RetriableError, FatalError)
    assert issubclass(RetriableError, RingostatError) and issubclass(FatalError, RingostatError)


def test_incorrect_field_names_the_field() -> None:
    error = classify(answer(400, {"message": "incorrect field: utm_foo"}))
    assert isinstance(error, IncorrectFieldError)
    assert error.field == "utm_foo"
    assert "utm_foo" in str(error)


def test_auth_errors_name_the_setting_and_the_environment_variable() -> None:
    error = classify(answer(401, {"message": "bad key"}))
    assert error is not None
    assert "ringostat.auth_key" in str(error)
    assert "CALLSYNC_RINGOSTAT__AUTH_KEY" in str(error)
    assert "bad key" in str(error)
    denied = classify(answer(403, {"message": "no access"}))
    assert denied is not None and "another Ringostat project" in str(denied)


def test_vendor_text_is_scrubbed_of_secrets() -> None:
    error = classify(answer(401, {"message": "key s3cr3t-key is invalid"}), secrets=["s3cr3t-key"])
    assert error is not None
    assert "s3cr3t-key" not in str(error)
    assert "***" in str(error)


@pytest.mark.parametrize(("header", "expected"), [("12", 12.0), ("0", 0.0), ("soon", None)])
def test_retry_after_is_kept(header: str, expected: float | None) -> None:
    error = classify(answer(429, {"error": "slow down"}, **{"Retry-After": header}))
    assert isinstance(error, RetriableError)
    assert error.retry_after == expected
