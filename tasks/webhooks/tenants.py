"""One receiver for every tenant: ``/t/<tenant>/ringostat/<event>`` routed to that tenant's own
receiver (:mod:`.receiver`: its token, its parameter names, its store scope, its Zoho org).

``/ringostat/<event>`` (the single-company paths) go to the tenant named ``default`` when there
is one; ``/healthz`` answers for the whole receiver. A tenant's receiver is started with the
router (its store, Zoho client and inbox worker live as long as the router), or on its first
webhook when its file was added later; a tenant without ``[webhook] token``, disabled or unknown
answers 404 — the answer does not tell which.

The router is plain ASGI: each request is handed to the tenant's app with the ``/t/<tenant>``
prefix moved from the path to the root path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from models.tenant_name import DEFAULT_TENANT, TenantNameError, check_tenant

log = logging.getLogger(__name__)

PREFIX = "/t/"
AppFactory = Callable[[str], ASGIApp | None]
"""A tenant's receiver app, or None when the tenant has no receiver (no token, no file)."""


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class TenantRouter:
    """The ASGI app serving every tenant's webhooks (module docstring)."""

    def __init__(self, factory: AppFactory, tenants: Iterable[str]) -> None:
        self._factory = factory
        self._initial = list(tenants)
        self._apps: dict[str, ASGIApp] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        self._started = False

    @property
    def tenants(self) -> list[str]:
        """The tenants whose receivers run."""
        return sorted(self._apps)

    async def _start(self, tenant: str) -> ASGIApp | None:
        app = self._factory(tenant)
        if app is None:
            return None
        lifespan = getattr(getattr(app, "router", None), "lifespan_context", None)
        if lifespan is not None:
            await self._stack.enter_async_context(lifespan(app))
        self._apps[tenant] = app
        return app

    async def _app(self, tenant: str) -> ASGIApp | None:
        app = self._apps.get(tenant)
        if app is not None or not self._started:
            return app
        async with self._lock:  # a tenant added since the start: its receiver, once
            app = self._apps.get(tenant)
            if app is None:
                try:
                    app = await self._start(tenant)
                except Exception:
                    log.warning("tenant %s: its receiver cannot start", tenant, exc_info=True)
                    return None
            return app

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for tenant in self._initial:
                        try:
                            await self._start(tenant)
                        except Exception:
                            # One company's broken config stops its receiver, not the others'.
                            log.warning(
                                "tenant %s: its receiver cannot start", tenant, exc_info=True
                            )
                    self._started = True
                except BaseException as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = str(scope["path"])
        if b"%" in (scope.get("raw_path") or b""):  # an escaped path is no endpoint
            await _answer(send, 404, {"status": "error", "message": "not found"})
            return
        tenant, rest = DEFAULT_TENANT, path
        if path.startswith(PREFIX):
            tenant, _, tail = path.removeprefix(PREFIX).partition("/")
            rest = f"/{tail}"
            try:
                check_tenant(tenant)
            except TenantNameError:
                await _answer(send, 404, {"status": "error", "message": "not found"})
                return
        elif path == "/healthz":
            await _answer(send, 200, {"status": "ok", "tenants": len(self._apps)})
            return
        app = await self._app(tenant) if rest.startswith("/ringostat/") else None
        if app is None:
            await _answer(send, 404, {"status": "error", "message": "not found"})
            return
        prefix = path[: len(path) - len(rest)]
        inner = dict(scope)
        inner["path"] = rest
        inner["raw_path"] = rest.encode()
        inner["root_path"] = str(scope.get("root_path", "")) + prefix
        await app(inner, receive, send)
