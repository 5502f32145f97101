"""The demo's call-back story against the emulators, through the real sync flow: it shows one
call-back task for three missed calls, completed by the agent's call, and an after-hours
call-back due in the next working morning."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from emulators.demo_data import generate_demo
from flows.demo.callbacks import run_callbacks
from flows.demo.emulate import running_emulators
from flows.demo.run import write_config

pytestmark = [
    pytest.mark.usefixtures("prefect_harness"),
    # Prefect's clients of the flows' event loops leave a keep-alive socket to the emulators
    # behind when asyncio.run closes them (as in test_webhooks_then_log_sync)
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


def test_the_demo_shows_call_backs_that_finish_themselves(tmp_path: Path) -> None:
    dataset = generate_demo(seed=5, days=1, calls_per_day=10)
    console = Console(record=True, width=200)
    with running_emulators() as emu, httpx.Client(timeout=60) as http:
        http.post(f"{emu.zoho_url}/__emulator__/seed", json=dataset.zoho_seed).raise_for_status()
        config = write_config(tmp_path, emu, dataset, days=1, webhook=False)
        # a Monday morning (2025-03-31 is one): the story's calls are that day's
        run_callbacks(console, http, emu, dataset, config, datetime(2025, 3, 31, 7, tzinfo=UTC))
        tasks = http.get(f"{emu.zoho_url}/__emulator__/dump").json()["Tasks"]
    shown = console.export_text()
    story = [t for t in tasks if str(t.get("rs_sync_key", "")).startswith("cb-")]
    # one task for the three missed calls, the agent's call logged, the evening call-back
    assert sorted(t["rs_sync_key"] for t in story) == [
        "cb-evening/task",
        "cb-missed-1/task",
        "cb-reached/task",
    ]
    assert "called 3 times while nobody answered: 1 call-back task written, 2 later calls" in shown
    assert "the task is now Completed" in shown and "Reached by" in shown
    assert "Mon 2025-03-31 19:30" in shown and "Tue 2025-04-01 13:00" in shown
    assert "Four working hours from 19:30 on Monday end at 13:00 on Tuesday" in shown
