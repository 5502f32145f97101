"""No full phone number and no raw row in any log line, at any level, ERROR included.

A SQLAlchemy error carries the statement's parameters in its message — for the ``calls`` table
that is the raw row, caller number and all — and Prefect logs a failed task's exception at ERROR
with its traceback: 8 of 46 ERROR records of an adversarial week carried full numbers. Here a
store write fails for real (a trigger in the state store refuses every new call, as a full disk
or a constraint would), once in a sync run and once in the webhook receiver, every log record of
every logger is captured at DEBUG with its traceback, and none holds a number of the calls
involved (the last four digits, as callsync writes them, are fine).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from tasks.store import Store
from tests.flows.conftest import FIXED_NOW, World, prefect_harness, prefect_server, world
from tests.integration.webhook_support import TOKEN, TOP_ONLY, pickup, receiver, zoho_world

__all__ = ["prefect_harness", "prefect_server", "world"]  # fixtures

pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)

NUMBERS = [f"+38050{7310000 + i * 1117:07d}" for i in range(5)]
"""The callers: their 9-digit national numbers must appear in no log line."""


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # message, exception and traceback


@contextmanager
def every_log_record() -> Iterator[_Keep]:
    """Every record of every logger at DEBUG: the root's and those that do not propagate
    (Prefect's), with their tracebacks formatted."""
    from prefect.logging.configuration import setup_logging

    setup_logging()  # Prefect's own set-up first: later ones are incremental and keep handlers
    keep = _Keep()
    loggers = [logging.getLogger()] + [
        lg
        for lg in logging.Logger.manager.loggerDict.values()
        if isinstance(lg, logging.Logger) and not lg.propagate
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(keep)
        lg.setLevel(logging.DEBUG)
    try:
        yield keep
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(keep)
            lg.setLevel(level)


def _refuse_new_calls(url: str) -> None:
    """A real failure of the store's write of new calls (the database raises it inside the
    INSERT): a trigger, on SQLite or PostgreSQL."""
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_calls() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'the disk refuses new calls'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_calls BEFORE INSERT ON calls "
                "FOR EACH ROW EXECUTE FUNCTION refuse_calls()"
            )
        engine.dispose()
        return
    db = Path(url.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_calls BEFORE INSERT ON calls "
            "BEGIN SELECT RAISE(ABORT, 'the disk refuses new calls'); END"
        )


def _leaks(lines: list[str]) -> list[str]:
    national = [n[-9:] for n in NUMBERS]
    return [line[:300] for line in lines if any(n in line for n in national)]


def _calls() -> list[dict[str, Any]]:
    return [
        {
            "uniqueid": f"log-{i}",
            "calldate": f"2026-03-02 10:{i:02d}:00",
            "call_type": "in",
            "disposition": "NO ANSWER",
            "caller": number,
            "dst": "+380441234567",
            "duration": 30,
            "billsec": 0,
        }
        for i, number in enumerate(NUMBERS)
    ]


def test_a_failing_store_write_in_a_sync_run_logs_no_number(world: World) -> None:
    world.seed_zoho(TOP_ONLY)
    world.post_calls(_calls())
    with Store(world.store_url):
        pass  # the tables exist
    _refuse_new_calls(world.store_url)

    with every_log_record() as logs, pytest.raises(Exception) as failed:
        world.sync(as_of=FIXED_NOW)

    assert "refuses new calls" in str(failed.value)
    errors = [line for line in logs.lines if line.startswith("ERROR")]
    print(
        f"figures: {len(logs.lines)} log records, {len(_leaks(logs.lines))} with a number; "
        f"{len(errors)} ERROR, {len(_leaks(errors))} with a number"
    )
    assert errors, "the failed run logged no ERROR at all"
    assert _leaks(logs.lines) == []
    assert _leaks([str(failed.value)]) == []  # the CLI's one line is the exception's message


def test_the_receivers_failing_store_write_logs_no_number(tmp_path: Path) -> None:
    with zoho_world(tmp_path) as zoho:
        settings = zoho.settings()
        with Store(settings.store.url):
            pass
        _refuse_new_calls(settings.store.url)
        with (
            every_log_record() as logs,
            receiver(settings) as rx,
            httpx.Client(base_url=rx.url, timeout=30) as http,
        ):
            events = [
                {**pickup(f"wh-{i}", number), "disposition": "NO ANSWER"}
                for i, number in enumerate(NUMBERS)
            ]
            for event in events:
                answer = http.post(
                    f"/ringostat/after-call?token={TOKEN}",
                    content=json.dumps(event).encode(),
                    headers={"content-type": "application/json"},
                )
                assert answer.status_code == 200, answer.text
            handled = rx.wait(len(events))
        details = [h.detail or "" for h in handled]
        print(
            f"figures: {len(logs.lines)} log records, {len(_leaks(logs.lines))} with a number; "
            f"{len(_leaks(details))} of {len(details)} failure details with a number"
        )
        assert {h.status for h in handled} == {"failed"}  # the store refused: left to the sync
        assert all("refuses new calls" in (h.detail or "") for h in handled)
        assert _leaks(logs.lines) == []
        assert _leaks(details) == []  # kept in the inbox, and sent to Prefect's event feed
