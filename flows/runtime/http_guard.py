"""The receiver's HTTP server on the open internet: a header deadline and a connection cap.

uvicorn's HTTP/1.1 protocol (h11) waits for a request's headers as long as a client likes, and
the event loop accepts connections until the process runs out of file descriptors. 1,100 clients
that each sent half a request line held every descriptor of a receiver limited to 1,024 open
files: normal requests waited in the kernel's queue (2 of 3 timed out) and every failed accept
logged a traceback (166 MB of log in 30 s). Here:

- **a header deadline**: a connection that has not sent a whole request's headers within
  ``[webhook] header_timeout_s`` of connecting (or of its previous answer) is closed;
- **a connection cap**: at most ``[webhook] max_connections`` connections are open, and never
  more than the open-file limit leaves room for (the rest of the process — state store, Zoho
  client, Prefect — keeps :data:`RESERVED_FILES`). A connection past the cap closes the oldest
  connection still without a whole request (a slow client, an idle keep-alive) — or itself when
  every open connection is busy with a request — so a normal request always gets in;
- **bounded accept bursts**: the listening socket's backlog (:data:`BACKLOG`) is also how many
  connections the event loop accepts in one go, so closing the oldest keeps pace.

The body deadline (``[webhook] body_timeout_s``, answered 408) is the app's own.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import resource
import socket
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

RESERVED_FILES = 128
"""Descriptors kept for everything but client connections."""
BACKLOG = 128
"""Pending connections the kernel queues, and the most accepted in one turn of the loop."""
MIN_CONNECTIONS = 16


def connection_cap(configured: int, open_files: int | None = None) -> int:
    """``configured``, lowered to what the open-file limit (default: this process's soft
    ``RLIMIT_NOFILE``) leaves after the reserve and one accept burst."""
    if open_files is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_files = soft if soft != resource.RLIM_INFINITY else configured * 2
    return max(MIN_CONNECTIONS, min(configured, open_files - RESERVED_FILES - BACKLOG))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the header deadline and the connection cap (see the module
    docstring); :func:`guarded_protocol` sets the two numbers."""

    header_timeout_s: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._since = 0.0
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        self._arm()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting():
            self._disarm()  # a whole request's headers arrived

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers have the same deadline

    def _waiting(self) -> bool:
        """No request in progress: the connection is waiting for (the rest of) its headers."""
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._waiting():
            self._close()

    def _close(self) -> None:
        self._disarm()
        self.connections.discard(self)  # counted out now; the loop closes the socket next
        if not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        excess = len(self.connections) - self.max_connections
        if excess <= 0:
            return
        idle = (
            c
            for c in self.connections
            if isinstance(c, GuardedH11Protocol) and c is not self and c._waiting()
        )
        victims = heapq.nsmallest(excess, idle, key=lambda c: c._since)
        for victim in victims:
            victim._close()
        refused = len(self.connections) > self.max_connections
        if refused:
            self._close()
        log.warning(
            "connection cap (%d) reached: closed %d connections without a whole request%s",
            self.max_connections,
            len(victims),
            " and refused a new one (every connection is busy)" if refused else "",
        )


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """The protocol class to give uvicorn (``Config(http=...)``)."""
    return type(
        "ReceiverH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_s": header_timeout_s, "max_connections": max_connections},
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening before the server starts: connections made from now on wait in the
    backlog, and ``port`` 0 gets a free port (read it from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    return sock
