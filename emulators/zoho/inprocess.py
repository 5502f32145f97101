"""In-process HTTP transport for tests and the demo: the app without a socket.

``httpx.ASGITransport`` cannot express a dropped connection: when the app stops in mid-body it
fails an internal assertion. :func:`transport` wraps the app so that an unfinished response
surfaces as :class:`httpx.RemoteProtocolError` — the same error class a real socket gives when the
server closes the connection before the end of the body (see ``limits``: a lost response).
"""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _ConnectionDropped(Exception):
    """The app ended without finishing its response."""


class _DropDetector:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = False

        async def watch(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        await self.app(scope, receive, watch)
        if scope["type"] == "http" and not finished:
            raise _ConnectionDropped


class ZohoTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` plus dropped-connection semantics."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=_DropDetector(app))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except _ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


def transport(app: ASGIApp) -> httpx.AsyncBaseTransport:
    """An in-process transport to ``app``: ``httpx.AsyncClient(transport=transport(app), base_url=...)``."""
    return ZohoTransport(app)
