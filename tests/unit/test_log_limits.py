"""Rate-limited error lines and the receiver's connection cap: the pure parts."""

from __future__ import annotations

import asyncio
import logging

from flows.runtime.http_guard import BACKLOG, MIN_CONNECTIONS, RESERVED_FILES, connection_cap
from flows.runtime.log_limits import RateLimit, one_line_loop_errors


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(
    msg: str, *args: object, level: int = logging.WARNING, name: str = "x"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_one_line_per_kind_per_period_then_a_count_of_those_held_back() -> None:
    clock = Clock()
    limit = RateLimit(10.0, clock=clock)
    first = _record("accept failed: %s", "EMFILE")
    assert limit.filter(first) and first.getMessage() == "accept failed: EMFILE"
    assert not any(limit.filter(_record("accept failed: %s", "EMFILE")) for _ in range(500))
    assert limit.filter(_record("another kind of failure"))  # its own limit
    assert limit.filter(_record("accept failed: %s", "x", level=logging.ERROR))  # another level
    clock.now += 10.0
    later = _record("accept failed: %s", "EMFILE")
    assert limit.filter(later)
    assert later.getMessage() == "accept failed: EMFILE (500 more like this held back)"
    clock.now += 10.0
    quiet = _record("accept failed: %s", "EMFILE")
    assert limit.filter(quiet) and quiet.getMessage() == "accept failed: EMFILE"


def test_info_and_debug_lines_are_never_held_back() -> None:
    limit = RateLimit(10.0, clock=Clock())
    assert all(limit.filter(_record("webhook %s", i, level=logging.INFO)) for i in range(100))
    assert all(limit.filter(_record("detail", level=logging.DEBUG)) for _ in range(100))


def test_the_connection_cap_stays_below_the_open_file_limit() -> None:
    assert connection_cap(1000, open_files=1024) == 1024 - RESERVED_FILES - BACKLOG
    assert connection_cap(1000, open_files=65536) == 1000
    assert connection_cap(1000, open_files=200) == MIN_CONNECTIONS


def test_the_loops_system_errors_are_one_line_and_bugs_keep_their_traceback() -> None:
    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    keep = Keep()
    loggers = [logging.getLogger("callsync.receiver"), logging.getLogger("asyncio")]
    for lg in loggers:
        lg.addHandler(keep)
    loop = asyncio.new_event_loop()
    try:
        one_line_loop_errors(loop)
        emfile = OSError(24, "Too many open files")
        loop.call_exception_handler(
            {"message": "socket.accept() out of system resource", "exception": emfile}
        )
        loop.call_exception_handler({"message": "a bug", "exception": ValueError("x")})
    finally:
        loop.close()
        for lg in loggers:
            lg.removeHandler(keep)
    system, bug = keep.records
    assert system.getMessage() == (
        "socket.accept() out of system resource (OSError: [Errno 24] Too many open files)"
    )
    assert system.exc_info is None and bug.exc_info is not None


def test_a_record_judged_by_a_logger_and_then_a_handler_counts_once() -> None:
    """The limit sits on flood-prone loggers and on every handler: a record passing both is
    judged once, so the first of a kind is written, not held back by its own first look."""
    limit = RateLimit(10.0, clock=lambda: 0.0)
    logger = logging.getLogger("callsync.test.twice")
    kept: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record.getMessage())

    handler = Keep()
    handler.addFilter(limit)
    logger.addFilter(limit)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("cap reached")
        logger.warning("cap reached")
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(limit)
    assert kept == ["cap reached"]
