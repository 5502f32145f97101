"""Call-backs that finish themselves, through the pipeline against the Zoho emulator.

A client who calls four times in twelve minutes while nobody answers gets one call-back task
that lists the calls; the agent's call that reaches the client completes it with who and when.
This holds within a chunk and across chunks of one run, across the two paths (log sync and
after-call webhooks), and it follows a manager who completed the task in Zoho by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from models.settings import Settings
from models.tables import WriteRecord
from tasks.pipeline import Pipeline, RunContext, StoredCrm
from tasks.pipeline.crm import People, load_people, refresh_index
from tasks.pipeline.webhooks import PeopleCrm, WebhookProcessor
from tasks.reporting.land import land_reports
from tasks.reporting.render import load_report, to_html
from tasks.ringostat.client import RingostatClient
from tasks.scenario import PlannerMemory
from tasks.store import Store
from tasks.webhooks.events import EventKind, read_event
from tasks.webhooks.inbox import Inbox
from tests.integration.pipeline_support import NOW, TOP_EMAIL, Org, inbound
from tests.support.zoho_harness import client_for, login

pytestmark = pytest.mark.anyio

ANNA = {
    "id": "5843104000000424777",
    "first_name": "Anna",
    "last_name": "Ivanova",
    "email": "anna@acme.test",
    "role": {"name": "CEO", "id": "5843104000000026005"},
}
CLIENT = "+380501110003"


def settings(**scenario: Any) -> Settings:
    return Settings(
        scenario={"top_manager": TOP_EMAIL, "company_numbers": ["+380441234567"], **scenario},
        employees=[{"zoho_user": "anna@acme.test", "sip": ["anna_sip"]}],
    )


def missed(uid: str, minute: int, **extra: Any) -> dict[str, Any]:
    return inbound(uid, CLIENT, "NO ANSWER", minute, **extra)


def outbound_answered(uid: str, minute: int) -> dict[str, Any]:
    return {
        "uniqueid": uid,
        "calldate": f"2026-01-18 10:{minute:02d}:00",
        "call_type": "out",
        "disposition": "ANSWERED",
        "caller": '"Anna Ivanova" <anna_sip>',
        "dst": CLIENT,
        "duration": 120,
        "billsec": 100,
    }


# Four missed calls in twelve minutes (a voicemail among them), then Anna calls back.
ISSUE_CALLS = [
    missed("m1", 0),
    missed("m2", 4),
    inbound("m3", CLIENT, "VOICEMAIL", 8, recording="https://r.test/m3.mp3"),
    missed("m4", 12),
    outbound_answered("o5", 20),
]


@dataclass
class World:
    org: Org
    http: httpx.AsyncClient
    store: Store
    settings: Settings

    async def context(self) -> RunContext:
        unused = RingostatClient(self.settings.ringostat, httpx.AsyncClient())
        return RunContext(self.settings, self.store, self.org.client(self.http), unused)

    async def people(self, ctx: RunContext) -> People:
        people = await load_people(ctx.zoho, self.store, ctx.settings)
        await refresh_index(ctx.zoho, self.store, ctx.settings, people)
        return people

    async def log_sync(self, rows: Sequence[dict[str, Any]], *, chunk: int = 5000) -> None:
        """The log path: rows ingested, then the pipeline chunk by chunk (as a sync run)."""
        ctx = await self.context()
        people = await self.people(ctx)
        self.store.ingest(list(rows), run_id="run")
        pipeline, memory = Pipeline(ctx, chunk_size=chunk), PlannerMemory()
        for part in self.store.work_chunks(chunk):
            await pipeline.process(
                part, StoredCrm(self.store, people), now=NOW, run_id="run", memory=memory
            )

    async def after_call(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """The webhook path: after-call events through the receiver's processor."""
        ctx = await self.context()
        people = await self.people(ctx)
        inbox = Inbox(self.store)
        for row in rows:
            kind = (
                EventKind.OUTGOING_AFTER_CALL if row["call_type"] == "out" else EventKind.AFTER_CALL
            )
            received = datetime(2026, 1, 18, 11, 0, tzinfo=UTC)
            inbox.add(read_event(kind, row, names={}, received_at=received, timezone="Europe/Kyiv"))
        processor = WebhookProcessor(
            Pipeline(ctx), PeopleCrm(self.store, people), inbox=inbox, clock=lambda: NOW
        )
        return [h.outcome for h in await processor.drain()]

    async def tasks(self) -> list[dict[str, Any]]:
        dump = (await self.http.get("/__emulator__/dump")).json()
        return [
            t
            for t in dump["Tasks"]
            if str(t.get("Subject", "")).startswith(("Call back", "Contact", "Voicemail"))
        ]

    def ledger(self) -> dict[str, tuple[str, str, str | None]]:
        with Session(self.store.engine) as session:
            rows = session.exec(select(WriteRecord)).all()
        return {w.sync_key: (w.op, w.kind, w.target_id or w.zoho_id) for w in rows}


@pytest.fixture
async def world(store_url: str) -> AsyncIterator[World]:
    """The org and a state store (SQLite, PostgreSQL)."""
    org = Org()
    async with client_for(org.app) as http:
        (await http.post("/__emulator__/seed", json={"users": [ANNA]})).raise_for_status()
        with Store(store_url, clock=org.clock) as store:
            yield World(org, http, store, settings())


def _assert_one_completed_callback(tasks: list[dict[str, Any]], ledger: dict[str, Any]) -> None:
    assert len(tasks) == 1, [t["Subject"] for t in tasks]
    [task] = tasks
    text = task["Description"]
    assert task["Status"] == "Completed"
    assert task["rs_sync_key"] == "m1/task"
    lines = text.splitlines()
    assert "Call 2: missed call at 2026-01-18 10:04:00 (NO ANSWER)" in lines
    assert (
        "Call 3: voicemail at 2026-01-18 10:08:00 (VOICEMAIL), voicemail: https://r.test/m3.mp3"
        in lines
    )
    assert "Call 4: missed call at 2026-01-18 10:12:00 (NO ANSWER)" in lines
    assert lines[-1] == "Reached by Anna Ivanova at 2026-01-18 10:20:00"
    # every missed call's task slot points at the one task; the reaching call completed it
    for uid in ("m2", "m3", "m4"):
        assert ledger[f"{uid}/task"] == ("update", "callback_merge", task["id"])
    assert ledger["o5/callback-done"] == ("update", "callback_done", task["id"])


@pytest.mark.parametrize("chunk", [1, 5000])
async def test_one_call_back_per_client_completed_by_the_agents_call(
    world: World, chunk: int
) -> None:
    await world.log_sync(ISSUE_CALLS, chunk=chunk)
    _assert_one_completed_callback(await world.tasks(), world.ledger())
    [row] = world.store.callback_rows()
    assert (row.status, row.calls, row.closed_by, row.closed_call) == (
        "completed",
        4,
        ANNA["id"],
        "o5",
    )


async def test_the_two_paths_share_the_open_call_back(world: World) -> None:
    # the first missed call and the voicemail come by webhook, the others by the log sync
    assert await world.after_call(ISSUE_CALLS[0:1]) == ["synced"]
    await world.log_sync(ISSUE_CALLS[1:2])
    assert await world.after_call(ISSUE_CALLS[2:3]) == ["synced"]
    await world.log_sync(ISSUE_CALLS[3:4])
    assert await world.after_call(ISSUE_CALLS[4:5]) == ["synced"]
    _assert_one_completed_callback(await world.tasks(), world.ledger())


async def test_a_task_completed_by_hand_in_zoho_is_not_extended(world: World) -> None:
    await world.log_sync(ISSUE_CALLS[0:1])
    [task] = await world.tasks()
    token_http = client_for(world.org.app)
    async with token_http:
        await login(token_http)
        done = await token_http.put(
            "/crm/v8/Tasks", json={"data": [{"id": task["id"], "Status": "Completed"}]}
        )
        assert done.status_code == 200
    await world.log_sync(ISSUE_CALLS[1:2])  # re-read before planning: a new call-back
    tasks = await world.tasks()
    assert sorted(t["rs_sync_key"] for t in tasks) == ["m1/task", "m2/task"]
    assert [t["Status"] for t in tasks if t["rs_sync_key"] == "m2/task"] == ["Not Started"]
    first = next(r for r in world.store.callback_rows() if r.task_key == "m1/task")
    assert (first.status, first.calls, first.closed_call) == ("completed", 1, None)
    assert first.closed_by is not None  # whoever completed it in Zoho


async def test_switched_off_every_missed_call_has_its_own_task(world: World) -> None:
    world.settings = settings(merge_callbacks=False, complete_callbacks=False)
    await world.log_sync(ISSUE_CALLS)
    tasks = await world.tasks()
    assert sorted(t["rs_sync_key"] for t in tasks) == ["m1/task", "m2/task", "m3/task", "m4/task"]
    assert {t["Status"] for t in tasks} == {"Not Started"}


async def test_a_late_voicemail_link_keeps_the_other_calls_lines(world: World) -> None:
    first = [*ISSUE_CALLS[:2], inbound("m3", CLIENT, "VOICEMAIL", 8)]
    await world.log_sync(first)
    ctx = await world.context()
    people = await world.people(ctx)
    late = world.store.ingest(
        [inbound("m3", CLIENT, "VOICEMAIL", 8, recording="https://r.test/m3.mp3")], run_id="r2"
    )
    assert late.recording_updates == ("m3",)
    await Pipeline(ctx).run_stage("update-recordings", ctx, people, ["m3"], None)
    [task] = await world.tasks()
    lines = task["Description"].splitlines()
    assert "Call 2: missed call at 2026-01-18 10:04:00 (NO ANSWER)" in lines
    assert (
        "Call 3: voicemail at 2026-01-18 10:08:00 (VOICEMAIL), voicemail: https://r.test/m3.mp3"
        in lines
    )


async def test_the_report_counts_call_backs_by_the_tasks_completion(
    world: World, tmp_path: Path
) -> None:
    other = "+380501110077"
    await world.log_sync([*ISSUE_CALLS, inbound("x1", other, "BUSY", 30)])
    [task] = [t for t in await world.tasks() if t["rs_sync_key"] == "x1/task"]
    token_http = client_for(world.org.app)
    async with token_http:  # a manager calls the client from a desk phone and closes the task
        await login(token_http)
        await token_http.put(
            "/crm/v8/Tasks", json={"data": [{"id": task["id"], "Status": "Completed"}]}
        )
    await world.log_sync([inbound("x2", other, "NO ANSWER", 40)])  # re-reads the task first

    path = tmp_path / "reports.duckdb"
    land_reports(world.store.engine, path, company_timezone="Europe/Kyiv")
    report = load_report(path, date_from=None, date_to=None)
    rows = {
        r[0]: dict(zip(report.missed_call_callbacks.columns, r, strict=True))
        for r in report.missed_call_callbacks.rows
    }
    reached = datetime(2026, 1, 18, 8, 20, tzinfo=UTC)  # o5: 10:20 in Kyiv
    for uid in ("m1", "m2", "m3", "m4"):
        row = rows[uid]
        assert (row["called_back"], row["called_back_by"], row["callback_uniqueid"]) == (
            True,
            "call",
            "o5",
        )
        assert (row["callback_at"], row["callback_user_name"]) == (reached, "Anna Ivanova")
        assert row["callback_task_id"] == rows["m1"]["callback_task_id"]  # one task for all
    assert (rows["x1"]["called_back"], rows["x1"]["called_back_by"]) == (True, "zoho")
    assert rows["x1"]["callback_user_name"] == "Org Admin"
    assert (rows["x2"]["called_back"], rows["x2"]["callback_task_status"]) == (False, "open")
    summary = dict(
        zip(
            report.missed_call_callbacks_summary.columns,
            report.missed_call_callbacks_summary.rows[0],
            strict=True,
        )
    )
    assert (summary["missed_calls"], summary["called_back"], summary["never_called_back"]) == (
        6,
        5,
        1,
    )
    html = to_html(report)
    assert "Anna Ivanova" in html and ">zoho<" in html


async def test_a_missed_call_handled_after_the_call_that_reached_the_client(world: World) -> None:
    # the missed call's after-call webhook was lost; Anna's call back (10:20) came by webhook,
    # and the log sync brings the missed call (10:00) afterwards: its call-back is born completed
    assert await world.after_call([outbound_answered("o5", 20)]) == ["skipped:outbound_no_entity"]
    await world.after_call([inbound("a3", CLIENT, "ANSWERED", 3, connected_with="anna_sip")])
    await world.log_sync([missed("m1", 0)])
    [task] = await world.tasks()
    assert (task["rs_sync_key"], task["Status"]) == ("m1/task", "Completed")
    assert task["Description"].splitlines()[-1] == "Reached by Anna Ivanova at 2026-01-18 10:03:00"
    [row] = world.store.callback_rows()
    assert (row.status, row.closed_call, row.closed_by) == ("completed", "a3", ANNA["id"])


async def test_the_call_back_is_the_same_whatever_order_the_calls_are_handled_in(
    world: World, store_url: str
) -> None:
    calls = [missed("m1", 0), inbound("a3", CLIENT, "ANSWERED", 3, connected_with="anna_sip")]
    known = {"Leads": [{"id": "5843104000000777001", "Last_Name": "Known", "Phone": CLIENT}]}
    (await world.http.post("/__emulator__/seed", json=known)).raise_for_status()
    in_order = Org()
    async with client_for(in_order.app) as http:
        (await http.post("/__emulator__/seed", json={"users": [ANNA], **known})).raise_for_status()
        with Store("sqlite://", clock=in_order.clock) as store:
            await World(in_order, http, store, settings()).log_sync(calls)
            [expected] = await World(in_order, http, store, settings()).tasks()
    await world.after_call(calls[1:])  # the answered call first, then the missed one
    await world.log_sync(calls[:1])
    [got] = await world.tasks()
    volatile = {"id", "What_Id", "Created_Time", "Modified_Time", "Created_By", "Modified_By"}
    assert {k: v for k, v in got.items() if k not in volatile} == {
        k: v for k, v in expected.items() if k not in volatile
    }
