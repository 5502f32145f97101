"""The receiver's inbox worker stops when asked, whatever it was doing.

On Python 3.11, ``asyncio.wait_for`` loses a cancellation that arrives just as the awaited event
is set; the worker's idle wait used it, so a batch ending (it wakes the worker) as the receiver
stopped left the worker running and ``callsync listen`` hung on SIGTERM.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tasks.pipeline import Pipeline, RunContext
from tasks.pipeline.crm import load_people
from tasks.pipeline.webhooks import PeopleCrm, WebhookProcessor
from tasks.ringostat.client import RingostatClient
from tasks.store import Store
from tasks.webhooks.worker import Worker
from tests.integration.pipeline_support import Org, sync_settings
from tests.support.zoho_harness import client_for

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("ticks", [0, 1, 2, 3])
async def test_a_wake_as_the_worker_stops_does_not_keep_it_running(ticks: int) -> None:
    org = Org()
    async with client_for(org.app) as http:
        settings = sync_settings()
        with Store("sqlite://", clock=org.clock) as store:
            unused = RingostatClient(settings.ringostat, httpx.AsyncClient())
            ctx = RunContext(settings, store, org.client(http), unused)
            people = await load_people(ctx.zoho, store, settings)
            processor = WebhookProcessor(Pipeline(ctx), PeopleCrm(store, people))
            worker = Worker(processor, idle_s=60.0)
            worker.start()
            await asyncio.sleep(0)  # the worker reads the (empty) inbox and waits
            for _ in range(3):
                await asyncio.sleep(0)
            worker.wake()  # a batch ending wakes it ...
            for _ in range(ticks):  # ... its wait ends, a step at a time ...
                await asyncio.sleep(0)
            async with asyncio.timeout(30) as bound:  # a deadline, for a worker that goes on
                await worker.stop()  # ... and it is stopped now, not when the deadline ends it
            assert not bound.expired()
            assert worker.stopped
