"""Both vendors' errors are the shared tree's (tasks.vendor.errors): one ``isinstance`` question
answers "retry?", "fix the credentials?", "give up?" whichever vendor failed."""

from __future__ import annotations

import inspect
from types import ModuleType

import httpx
import pytest

from tasks.ringostat import errors as ringostat
from tasks.vendor import errors as vendor
from tasks.zoho import errors as zoho

SHARED = (vendor.RetriableError, vendor.AuthError, vendor.FatalError)


def _classes(module: ModuleType) -> list[type[Exception]]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == module.__name__
    ]


@pytest.mark.parametrize("module", [zoho, ringostat], ids=["zoho", "ringostat"])
def test_each_vendor_class_is_a_shared_class_exactly_when_it_is_its_vendors_namesake(
    module: ModuleType,
) -> None:
    classes = _classes(module)
    assert len(classes) >= 6
    for cls in classes:
        assert issubclass(cls, vendor.VendorError), f"{cls.__qualname__} is no VendorError"
        for shared in SHARED:
            own = getattr(module, shared.__name__)
            assert issubclass(cls, own) == issubclass(cls, shared), (
                f"{module.__name__}.{cls.__name__} is a {own.__qualname__} only on one side"
            )


def _zoho(status: int, code: str = "", message: str = "m") -> vendor.VendorError | None:
    return zoho.classify(httpx.Response(status, json={"code": code, "message": message}))


def _ringostat(status: int, body: object = None) -> vendor.VendorError | None:
    return ringostat.classify(httpx.Response(status, json=body or {"error": "e"}))


CASES = [
    ("zoho 429 crowd", _zoho(429, "TOO_MANY_REQUESTS", "too many requests continuously"), vendor.RetriableError),
    ("zoho 503", _zoho(503), vendor.RetriableError),
    ("zoho 401", _zoho(401, "INVALID_TOKEN"), vendor.AuthError),
    ("zoho 400 INVALID_MODULE", _zoho(400, "INVALID_MODULE"), vendor.FatalError),
    ("zoho credits spent", _zoho(429, "TOO_MANY_REQUESTS", "API credit limit for the day"), None),
    ("ringostat 429", _ringostat(429), vendor.RetriableError),
    ("ringostat 503", _ringostat(503), vendor.RetriableError),
    ("ringostat 401", _ringostat(401), vendor.AuthError),
    ("ringostat 403", _ringostat(403), vendor.FatalError),
    ("ringostat 400", _ringostat(400), vendor.FatalError),
]  # fmt: skip


@pytest.mark.parametrize(("error", "shared"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classified_answers_fall_into_the_shared_tree(
    error: vendor.VendorError | None, shared: type[vendor.VendorError] | None
) -> None:
    assert isinstance(error, vendor.VendorError)
    found = [s for s in SHARED if isinstance(error, s)]
    if shared is None:  # Zoho's spent credit budget: neither retried nor a person's fix
        assert found == []
    else:
        assert shared in found
        assert error.status is not None


def test_transport_failures_are_retriable_for_both_vendors() -> None:
    request = httpx.Request("GET", "https://vendor.test/x")
    lost = zoho.from_transport_error(
        httpx.ConnectError("refused", request=request), idempotent=False
    )
    assert isinstance(lost, vendor.RetriableError)
    assert isinstance(ringostat.RetriableError("timed out"), vendor.RetriableError)


def test_shared_fields_read_the_same_on_both_vendors() -> None:
    z = zoho.RetriableError("busy", code="TOO_MANY_REQUESTS", status=429)
    r = ringostat.RetriableError("busy", status_code=429, retry_after=7.0)
    assert (z.message, z.status, z.retry_after) == ("busy", 429, None)
    assert (r.message, r.status, r.status_code, r.retry_after) == ("busy", 429, 429, 7.0)
