"""Bursts of pickups over real HTTP: no event lost, no lead twice, a receiver restart mid-burst.

500 pickups (480 new callers, 20 second calls from one of them, plus repeated webhooks) sent 32 at
a time to uvicorn on 127.0.0.1; the Zoho emulator behind. Waiting is on handled events.
"""

from __future__ import annotations

import asyncio
import queue
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.settings import Settings
from tasks.pipeline.webhooks import Handled
from tests.integration.webhook_support import (
    TOKEN,
    ZohoWorld,
    inbox_counts,
    pickup,
    receiver,
    zoho_world,
)

N_CALLERS = 480
N_SECOND_CALLS = 20


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ZohoWorld]:
    with zoho_world(tmp_path) as w:
        yield w


def _burst() -> list[dict[str, str]]:
    """480 first calls, then 20 second calls from the first 20 callers (no lead of their own)."""
    firsts = [pickup(f"b-{n:04d}", f"+38050{2000000 + n:07d}") for n in range(N_CALLERS)]
    seconds = [
        pickup(f"b-again-{n:04d}", f"+38050{2000000 + n:07d}", calldate="2026-03-02 10:30:00")
        for n in range(N_SECOND_CALLS)
    ]
    return firsts + seconds


async def _send(url: str, events: Sequence[dict[str, str]]) -> list[int]:
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def one(body: dict[str, str]) -> int:
            async with limit:
                answer = await http.post("/ringostat/pickup", json=body, params={"token": TOKEN})
                return answer.status_code

        return list(await asyncio.gather(*(one(e) for e in events)))


def _wait_until_done(
    settings: Settings, handled: queue.Queue[Handled], *, expect: int = 0
) -> list[Handled]:
    """Handled events, once the inbox has nothing pending and at least ``expect`` were reported.

    An event is marked done in the inbox before it is reported, so an empty inbox alone does not
    mean every report is in the queue yet.
    """
    seen: list[Handled] = []
    while len(seen) < expect or any(k.endswith("/pending") for k in inbox_counts(settings)):
        seen.append(handled.get(timeout=120))
    while not handled.empty():
        seen.append(handled.get_nowait())
    return seen


def _check_zoho(world: ZohoWorld) -> None:
    leads = [r for r in world.dump()["Leads"] if r.get("rs_sync_key")]
    keys = Counter(r["rs_sync_key"] for r in leads)
    phones = Counter(r["Phone"] for r in leads)
    assert len(keys) == N_CALLERS and max(keys.values()) == 1
    assert max(phones.values()) == 1  # no caller got two leads
    # each caller's lead belongs to one of its calls (the first pickup to arrive, normally the
    # first call's)
    allowed = {f"b-{n:04d}/lead" for n in range(N_CALLERS)}
    allowed |= {f"b-again-{n:04d}/lead" for n in range(N_SECOND_CALLS)}
    assert set(keys) <= allowed


def test_a_burst_of_500_pickups_loses_nothing_and_writes_no_lead_twice(world: ZohoWorld) -> None:
    settings = world.settings()
    events = _burst()
    repeats = events[::25]  # Ringostat or a proxy repeating some of them
    handled: queue.Queue[Handled] = queue.Queue()
    with receiver(settings, handled=handled) as rec:
        codes = asyncio.run(_send(rec.url, events + repeats))
        assert codes == [200] * (len(events) + len(repeats))
        seen = _wait_until_done(settings, handled, expect=len(events))
    assert len(seen) == len(events)  # each event handled once
    outcomes = Counter(h.outcome for h in seen)
    assert outcomes == {"lead_created": N_CALLERS, "existing_client": N_SECOND_CALLS}
    assert inbox_counts(settings) == {
        "pickup/done/lead_created": N_CALLERS,
        "pickup/done/existing_client": N_SECOND_CALLS,
    }
    _check_zoho(world)


def test_a_receiver_restart_mid_burst_loses_nothing(world: ZohoWorld) -> None:
    settings = world.settings()
    events = _burst()
    first, rest = events[:250], events[250:]
    handled: queue.Queue[Handled] = queue.Queue()
    with receiver(settings, handled=handled) as rec:
        # warm (token, users, index), then Zoho slows down: the worker's batches are still
        # waiting for their lookups and lead inserts when the receiver stops
        assert asyncio.run(_send(rec.url, first[:1])) == [200]
        handled.get(timeout=60)
        # (no concurrency limit: the slow requests still running when the next receiver starts
        # would otherwise answer its first requests 429, which reads as spent credits)
        world.faults(latency_ms=1500, concurrency_limit=1000)
        assert asyncio.run(_send(rec.url, first[1:])) == [200] * (len(first) - 1)
    world.faults(latency_ms=0, concurrency_limit=1000)
    with receiver(settings, handled=handled) as rec:
        again: list[dict[str, Any]] = first[::10]  # repeats of webhooks the first one answered
        assert asyncio.run(_send(rec.url, rest + again)) == [200] * (len(rest) + len(again))
        _wait_until_done(settings, handled)
    counts = inbox_counts(settings)
    assert sum(counts.values()) == len(events)
    assert counts.get("pickup/done/existing_client") == N_SECOND_CALLS
    assert counts.get("pickup/done/lead_created", 0) + counts.get("pickup/done/lead_exists", 0) == (
        N_CALLERS
    )
    _check_zoho(world)
