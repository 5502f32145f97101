"""A gate in front of the Zoho emulator (ASGI) that holds one CRM write request: how a test
knows a real ``callsync`` process is in the middle of its writes, and kills it there.

The gate counts write requests (inserts and updates of records) as they arrive and holds the
``hold_at``-th one:

- ``after=False``: before Zoho sees it — a request in flight when its sender died, that Zoho
  never ran; :meth:`release` answers it 503 without passing it on;
- ``after=True``: after Zoho ran it, before the answer leaves — Zoho has the records, the
  sender never learns their ids; :meth:`release` lets the answer go (to nobody).
"""

from __future__ import annotations

import asyncio
import threading

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def is_write(scope: Scope) -> bool:
    parts = str(scope.get("path", "")).strip("/").split("/")
    return (
        len(parts) == 3
        and parts[:2] == ["crm", "v8"]
        and parts[2] != "coql"
        and scope.get("method") in ("POST", "PUT")
    )


class WriteGate:
    """See the module docstring; :meth:`arm` sets the request to hold."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.arrived = 0
        self.hold_at: int | None = None
        self.after = False
        self.held = threading.Event()
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def arm(self, hold_at: int | None, *, after: bool = False) -> None:
        """Hold the ``hold_at``-th write counted from now (None: hold nothing)."""
        self.arrived, self.hold_at, self.after = 0, hold_at, after
        self.held.clear()

    async def _wait(self) -> None:
        self._loop, self._release = asyncio.get_running_loop(), asyncio.Event()
        self.held.set()
        await self._release.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_write(scope):
            await self.app(scope, receive, send)
            return
        self.arrived += 1
        if self.arrived != self.hold_at:
            await self.app(scope, receive, send)
            return
        if not self.after:
            await self._wait()
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)  # Zoho runs it: the records exist now
        await self._wait()
        for message in answer:
            try:
                await send(message)
            except Exception:  # the sender is dead: nobody reads the answer
                return

    def release(self) -> None:
        """Let the held request end (503 before Zoho, or Zoho's answer after)."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def wait_held(self, timeout: float) -> bool:
        return self.held.wait(timeout)

    def __repr__(self) -> str:
        return f"WriteGate(arrived={self.arrived}, hold_at={self.hold_at}, after={self.after})"
