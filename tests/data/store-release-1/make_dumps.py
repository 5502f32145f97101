"""Makes ``sqlite.sql`` and ``postgresql.sql``: a state store as the last release without schema
migrations left it (git commit 1152882), with a few rows in every table.

Run with that release's code first on the path (its store creates the tables), e.g.::

    git archive 1152882 | tar -x -C /tmp/release-1
    PYTHONPATH=/tmp/release-1 .venv/bin/python tests/data/store-release-1/make_dumps.py PG_URL

``PG_URL``: an empty PostgreSQL database (``postgresql+psycopg://…``); ``pg_dump`` must be on
PATH or in /usr/lib/postgresql/*/bin. The tests load these files and open them with today's
store, which must upgrade them and keep every row.
"""

from __future__ import annotations

import glob
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlmodel import Session

from models.tables import (
    CrmIndexRecord,
    CursorRecord,
    LeaseRecord,
    RunRecord,
    TokenRecord,
    UserRecord,
    WebhookEventRecord,
    WriteRecord,
)
from tasks.store import Store
from tasks.webhooks.inbox import Inbox

HERE = Path(__file__).parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def populate(url: str) -> None:
    store = Store(url, clock=lambda: T0)
    store.ingest(
        [
            {"uniqueid": "release1-a", "calldate": "2026-03-02 10:00:00", "caller": "+380501112233",
             "call_type": "in", "disposition": "ANSWERED", "duration": 60},
            {"uniqueid": "release1-b", "calldate": "2026-03-02 10:05:00", "caller": "+380501112244",
             "call_type": "in", "disposition": "NO ANSWER", "duration": 0},
        ],
        run_id="run-1",
    )  # fmt: skip
    store.ingest([{"calldate": "2026-03-02 10:06:00"}], run_id="run-1")  # quarantined: no id
    Inbox(store)  # that release created the inbox table once a receiver ran
    with Session(store.engine) as s:
        s.add(WriteRecord(sync_key="release1-a/lead", uniqueid="release1-a", module="Leads",
                          op="insert", kind="lead", zoho_id="5000000000000009001",
                          status="success", attempts=1, payload_json="{}",
                          created_at=T0, updated_at=T0))  # fmt: skip
        s.add(CursorRecord(name="ingest", position=T0, updated_at=T0))
        s.add(CrmIndexRecord(module="Leads", id="5000000000000009001", owner_id="1",
                             modified_time=T0, phone_keys=" 380501112233 ",
                             sync_key="release1-a/lead"))  # fmt: skip
        s.add(RunRecord(run_id="run-1", flow="sync", started_at=T0, status="success"))
        s.add(UserRecord(id="1", email="top@acme.test", full_name="Tamara Top"))
        s.add(TokenRecord(name="zoho:release1", token_enc="sealed", fingerprint="fp",
                          api_domain="https://www.zohoapis.eu",
                          expires_at=T0 + timedelta(minutes=55), minted_at=T0, mints=3))  # fmt: skip
        s.add(LeaseRecord(name="callsync:runs", holder=None, label=None))
        s.add(WebhookEventRecord(event_key="pickup:release1-c", event="pickup",
                                 uniqueid="release1-c", row_json="{}", received_at=T0,
                                 status="done", outcome="lead_created", attempts=1))  # fmt: skip
        s.commit()
    store.close()


def main(pg_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        populate(f"sqlite:///{path}")
        with sqlite3.connect(path) as db:
            (HERE / "sqlite.sql").write_text("\n".join(db.iterdump()) + "\n", encoding="utf-8")
    populate(pg_url)
    tools = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    pg_dump = tools[-1] if tools else "pg_dump"
    libpq = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(
        [pg_dump, "--inserts", "--no-owner", "--no-privileges", "--no-comments", libpq],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    # psql's own commands (\restrict in newer pg_dump) are not SQL: the tests run it as SQL.
    sql = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
    (HERE / "postgresql.sql").write_text(sql + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
