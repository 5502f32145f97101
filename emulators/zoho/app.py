"""``create_app``: the Zoho CRM v8 emulator as one FastAPI application.

Routers are included most specific first, because ``/crm/v8/{module}`` would otherwise swallow
``/crm/v8/users`` and ``/crm/v8/settings/...``; within ``routes_read``, ``POST /crm/v8/coql`` is
declared before the write router's ``POST /crm/v8/{module}``.

Unknown URLs answer as Zoho does, never FastAPI's ``{"detail": ...}``: a URL no route matches, or
one whose first segment under ``/crm/v8`` is an API resource the emulator lacks (``settings``,
``org``, ``users``, ...: ``routes_write.API_RESOURCES``), answers 404 ``INVALID_URL_PATTERN``;
an unknown name where a module belongs (``/crm/v8/Widgets``, ``/crm/v8/Widgets/{id}``) answers
400 ``INVALID_MODULE``; a known URL with another method answers 405 ``INVALID_REQUEST_METHOD``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from emulators.zoho import (
    admin,
    oauth,
    routes_convert,
    routes_meta,
    routes_read,
    routes_write,
    watch,
)
from emulators.zoho.errors import ZohoError, error_response, not_found_url, zoho_error_handler
from emulators.zoho.limits import RouteTable, ZohoLimits
from emulators.zoho.orgs import OrgRouter, Orgs
from emulators.zoho.state import ZohoState


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return error_response(
            ZohoError(
                405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
            )
        )
    return error_response(not_found_url())


def create_app(
    state: ZohoState | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> FastAPI:
    """A fresh emulator over ``state`` (a new default org if none).

        The app serves the default org ``state`` and any number of named orgs, picked by credentials
    (:mod:`emulators.zoho.orgs`). ``clock`` (aware datetimes) drives record times, token expiry, page-token expiry and the
        credit window; ``sleep`` serves the ``latency_ms`` fault (default ``anyio.sleep``).
    """
    zoho = state if state is not None else ZohoState(clock=clock)
    if state is not None and clock is not None:
        zoho.clock = clock
    app = FastAPI(title="Zoho CRM v8 emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.zoho = zoho
    app.state.orgs = Orgs(zoho)
    app.add_exception_handler(ZohoError, zoho_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    routers = [
        admin.router,
        oauth.router,
        watch.router,
        routes_meta.router,
        routes_convert.router,
        routes_read.router,
        routes_write.router,
    ]
    for router in routers:
        app.include_router(router)
    app.add_middleware(
        ZohoLimits, owner=app, routes=RouteTable(routers), sleep=sleep or anyio.sleep
    )
    # Notifications go out after the answer, whatever the limits did to it.
    app.add_middleware(watch.Notifier, owner=app)
    # Outermost: the org of each request (many orgs on one emulator, emulators/zoho/orgs.py).
    app.add_middleware(OrgRouter, orgs=app.state.orgs)
    return app
