"""Two syncs at once on one state store: one writes, the other says who holds the store."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import anyio

from tests.reliability.conftest import Services, generated_calls, size, start_services
from tests.reliability.pipeline import sync_once


class Gate:
    """The Zoho emulator's latency: every CRM request waits here until the gate opens."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    async def __call__(self, seconds: float) -> None:
        self.entered.set()
        await anyio.to_thread.run_sync(self.opened.wait)


def _writes(services: Services) -> int:
    routes = services.stats()["by_route"]
    return sum(
        v["requests"]
        for k, v in routes.items()
        if k.startswith(("POST", "PUT")) and "{module}" in k
    )


def test_two_concurrent_syncs_write_once(tmp_path: Path) -> None:
    calls = generated_calls(size(60, 400), seed=5)
    with start_services(tmp_path / "clean") as clean:
        clean.post_calls(calls)
        asyncio.run(sync_once(clean.settings(), clean.clock, run_id="clean"))
        clean_writes = _writes(clean)

    gate = Gate()
    with start_services(tmp_path / "org", sleep=gate) as org:
        org.post_calls(calls)
        org.faults(latency_ms=1)  # every CRM request passes the gate

        async def both() -> tuple[dict[str, object], dict[str, object]]:
            first = asyncio.create_task(sync_once(org.settings(), org.clock, run_id="first"))
            # The first run holds the lease and waits in Zoho; the second one starts now.
            await anyio.to_thread.run_sync(gate.entered.wait)
            second = await sync_once(org.settings(), org.clock, run_id="second")
            gate.opened.set()
            return await first, second

        first, second = asyncio.run(both())
        assert "lease_held" not in first
        line = str(second["lease_held"])
        assert "sync run first" in line and "since" in line
        assert _writes(org) == clean_writes
        print(f"figures: {len(calls)} calls, two syncs at once: {_writes(org)} write requests")
        keys = [r["rs_sync_key"] for m in ("Leads", "Tasks") for r in org.dump()[m]]
        assert len(keys) == len(set(keys))
