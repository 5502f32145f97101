"""The webhook path and the log path are one pipeline: the same calls give the same plans, the
same ledger entries and the same summary type, whichever path wrote them.

Two copies of one org: the log sync writes the calls into the first, after-call webhooks (the
receiver's processor) into the second. Both go through :class:`tasks.pipeline.Pipeline`; this
test fails when one of them re-types a stage and drifts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from models.tables import CallRecord, WriteRecord
from tasks.pipeline import Pipeline, RunContext, RunSummary, StoredCrm
from tasks.pipeline.crm import load_people, refresh_index
from tasks.pipeline.webhooks import PeopleCrm, WebhookProcessor
from tasks.ringostat.client import RingostatClient
from tasks.store import Store
from tasks.webhooks.events import EventKind, read_event
from tasks.webhooks.inbox import Inbox
from tests.integration.pipeline_support import NOW, Org, inbound, sync_settings
from tests.support.zoho_harness import client_for

pytestmark = pytest.mark.anyio

SEED: dict[str, Any] = {
    "Leads": [{"Last_Name": "Known", "Phone": "+380501119999"}],
}
CALLS = [
    inbound("a-new", "+380501110001", "ANSWERED", 1, connected_with="top_sip"),
    inbound("a-unmapped", "+380501110002", "ANSWERED", 2, connected_with="stranger_sip"),
    inbound("a-missed", "+380501110003", "NO ANSWER", 3),
    inbound("a-voicemail", "+380501110004", "VOICEMAIL", 4, recording="https://r.test/v.mp3"),
    inbound("a-known", "+380501119999", "ANSWERED", 5, connected_with="top_sip"),
    inbound("a-again", "+380501110001", "NO ANSWER", 6),
]


def _ledger(store: Store) -> list[tuple[str, str, str, str, str]]:
    with Session(store.engine) as session:
        rows = session.exec(select(WriteRecord)).all()
    return sorted((w.sync_key, w.module, w.op, w.kind, w.status) for w in rows)


def _calls(store: Store) -> dict[str, tuple[Any, ...]]:
    with Session(store.engine) as session:
        rows = session.exec(select(CallRecord)).all()
    return {
        c.uniqueid: (c.status, c.scenario_row, c.client_status, c.employee_user_id, c.reason)
        for c in rows
    }


async def _context(org: Org, http: httpx.AsyncClient, store: Store) -> RunContext:
    settings = sync_settings()
    unused = RingostatClient(settings.ringostat, httpx.AsyncClient())  # no call log read here
    return RunContext(settings, store, org.client(http), unused)


async def test_the_webhook_path_and_the_log_path_write_the_same() -> None:
    log_org, hook_org = Org(), Org()
    async with client_for(log_org.app) as log_http, client_for(hook_org.app) as hook_http:
        for http in (log_http, hook_http):
            (await http.post("/__emulator__/seed", json=SEED)).raise_for_status()
        with (
            Store("sqlite://", clock=log_org.clock) as by_log,
            Store("sqlite://", clock=hook_org.clock) as by_hooks,
        ):
            # the log path: ingest, then the pipeline's chunk stages
            ctx = await _context(log_org, log_http, by_log)
            by_log.ingest(CALLS, run_id="run")
            people = await load_people(ctx.zoho, by_log, ctx.settings)
            await refresh_index(ctx.zoho, by_log, ctx.settings, people)
            log_summary = await Pipeline(ctx).process(
                by_log.work(), StoredCrm(by_log, people), now=NOW, run_id="run"
            )

            # the webhook path: after-call events through the receiver's processor
            ctx = await _context(hook_org, hook_http, by_hooks)
            people = await load_people(ctx.zoho, by_hooks, ctx.settings)
            await refresh_index(ctx.zoho, by_hooks, ctx.settings, people)
            inbox = Inbox(by_hooks)
            received = datetime(2026, 1, 18, 10, 30, tzinfo=UTC)
            for row in CALLS:
                inbox.add(
                    read_event(
                        EventKind.AFTER_CALL,
                        row,
                        names={},
                        received_at=received,
                        timezone="Europe/Kyiv",
                    )
                )
            processor = WebhookProcessor(
                Pipeline(ctx), PeopleCrm(by_hooks, people), inbox=inbox, clock=lambda: NOW
            )
            handled = await processor.drain()

            assert {h.status for h in handled} == {"done"}
            assert isinstance(log_summary, RunSummary)
            assert isinstance(processor.summary, RunSummary)
            assert _calls(by_hooks) == _calls(by_log)
            assert _ledger(by_hooks) == _ledger(by_log)
            for name in ("by_row", "by_status", "writes", "processed"):
                assert getattr(processor.summary, name) == getattr(log_summary, name), name
            assert log_summary.by_row == {"1": 1, "2": 1, "6": 1, "8": 1, "3": 1, "7": 1}
