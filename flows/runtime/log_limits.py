"""A long-running process's error lines, rate-limited: one line per kind per 10 s.

A receiver under a flood (slow clients, a full disk, a locked store) meets the same failure
thousands of times a second; logging each, with its traceback, grew the log by 166 MB in 30 s
and buried everything else. :class:`RateLimit` lets through at most one WARNING-or-worse record
per kind (logger, level and message template) every ``every_s`` seconds; the next one let
through says how many were held back. INFO and DEBUG lines pass untouched (they are one per
event by design). :func:`one_line_loop_errors` makes the event loop's reports of system
errors (a failed ``accept()``) one line without a traceback, through the same limit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger("callsync.receiver")

MAX_KINDS = 1000
"""Kinds remembered at most (the oldest are forgotten): messages built with f-strings make new
kinds without end."""


_JUDGED = "_callsync_rate_limit"


class RateLimit(logging.Filter):
    """At most one WARNING-or-worse record per kind every ``every_s`` seconds (``clock``: a
    monotonic clock, injected in tests)."""

    def __init__(self, every_s: float = 10.0, *, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.every_s = every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._kinds: OrderedDict[tuple[str, int, str], list[float | int]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        judged = getattr(record, _JUDGED, None)
        if judged is not None:  # seen already on its way (a logger's filter, then a handler's)
            return bool(judged)
        verdict = self._judge(record)
        setattr(record, _JUDGED, verdict)
        return verdict

    def _judge(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is not None and now - seen[0] < self.every_s:
                seen[1] += 1
                return False
            held_back = int(seen[1]) if seen is not None else 0
            self._kinds[kind] = [now, 0]
            self._kinds.move_to_end(kind)
            while len(self._kinds) > MAX_KINDS:
                self._kinds.popitem(last=False)
        if held_back:
            # Appended to the template, not formatted into it: the record's args stay valid.
            record.msg = f"{record.msg} ({held_back} more like this held back)"
        return True


FLOOD_PRONE = (
    "flows.runtime.http_guard",
    "flows.runtime.log_limits",
    "tasks.webhooks.receiver",
    "tasks.webhooks.worker",
    "uvicorn.error",
    "asyncio",
)
"""The loggers a crowd of clients can make write without end: the limit sits on them too, so a
handler configured after :func:`limit_every_handler` (a library setting up its logging late)
cannot let their flood through."""


def limit_every_handler(limit: RateLimit) -> int:
    """Put ``limit`` on every handler configured now (the root's and every named logger's):
    a filter on a handler sees every record it writes, whichever logger it came from; and on
    the :data:`FLOOD_PRONE` loggers themselves. Returns how many handlers got it."""
    for name in FLOOD_PRONE:
        flood = logging.getLogger(name)
        if limit not in flood.filters:
            flood.addFilter(limit)
    loggers: list[Any] = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = {id(h): h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers}
    for handler in handlers.values():
        if limit not in handler.filters:
            handler.addFilter(limit)
    return len(handlers)


def one_line_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """The loop's reports of system errors (``accept()`` out of file descriptors, a reset
    connection: ``OSError``) as one line each, without a traceback; anything else (a bug) keeps
    the loop's default report, traceback included. Both go through the handlers' limits."""

    def report(current: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, OSError):
            current.default_exception_handler(context)
            return
        # The loop's message (a fixed text per kind) is the template: one limit per kind.
        message = str(context.get("message") or "event loop error").replace("%", "%%")
        log.error(f"{message} (%s)", f"{type(exc).__name__}: {exc}")

    loop.set_exception_handler(report)
