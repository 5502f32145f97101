"""Run names, the retried tag and the failure alert on a real Prefect server: a run renamed after
what it did, a run that needed a retry tagged so, a failed run named after its reason, and the
automation ``callsync alerts`` / ``serve`` make announcing a failed run to a webhook (a real HTTP
endpoint on 127.0.0.1) — created from the config, changed by it, removed by it."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flows.runtime.alerts import AUTOMATION_NAME, apply_alert, send_test_alert
from flows.runtime.prefect_server import LocalPrefectServer
from flows.runtime.run_card import RETRIED_TAG, alabel_run, label_failed_run, label_run
from models.settings import PrefectSettings
from tests.support.processes import WAIT_S, prefect_api

# Prefect's engine lets go of a keep-alive socket to its API without closing it when an async
# flow's event loop ends; the garbage collector reports it later. Only that report is tolerated.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)

STARTED = datetime(2026, 3, 2, 15, 45, tzinfo=UTC)


@pytest.fixture
def webhook() -> Iterator[tuple[str, queue.Queue[dict[str, Any]]]]:
    """A webhook endpoint on 127.0.0.1; each POSTed JSON body lands in the queue."""
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.put({"path": self.path, "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/T0-secret", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def _alert_saying(received: queue.Queue[dict[str, Any]], needle: str) -> dict[str, Any]:
    """The first alert whose text holds ``needle``. The automation announces every failed run on
    the server, and the server is shared by the whole session: an earlier test's failed run may
    be announced here first, and is passed over."""
    while True:
        alert = received.get(timeout=WAIT_S)
        if needle in alert["json"]["text"]:
            return alert


def _run(api: str, run_id: Any) -> dict[str, Any]:
    run: dict[str, Any] = prefect_api(api, "GET", f"/flow_runs/{run_id}")
    return run


def test_a_run_is_named_after_what_it_did_and_a_retried_run_says_so(
    prefect_harness: None, prefect_server: LocalPrefectServer
) -> None:
    from prefect import flow, runtime

    @flow(name="callsync-card-probe")
    async def once() -> str:
        await alabel_run("sync", {"new_calls": 3}, started_at=STARTED, tz="Europe/Kyiv")
        return str(runtime.flow_run.id)

    named = _run(prefect_server.api_url, asyncio.run(once()))
    assert named["name"] == "sync 17:45 · 3 new calls"
    assert RETRIED_TAG not in named["tags"]

    attempts: list[int] = []

    @flow(name="callsync-card-probe", retries=1, retry_delay_seconds=0)
    def retried() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("Zoho answered 500")
        label_run("backfill", {"new_calls": 0}, started_at=STARTED, tz="Europe/Kyiv")
        return str(runtime.flow_run.id)

    run = _run(prefect_server.api_url, retried())
    assert run["state_type"] == "COMPLETED" and run["run_count"] == 2
    assert run["name"] == "backfill 17:45 · no new calls · attempt 2"
    assert RETRIED_TAG in run["tags"]


def test_a_failed_run_is_announced_to_the_webhook_and_named_after_its_reason(
    prefect_harness: None,
    prefect_server: LocalPrefectServer,
    webhook: tuple[str, queue.Queue[dict[str, Any]]],
) -> None:
    from prefect import flow, runtime

    url, received = webhook
    settings = PrefectSettings(alert_webhook_url=url)
    first = asyncio.run(apply_alert(settings))
    again = asyncio.run(apply_alert(settings))  # running it again changes nothing
    assert first == again and first.enabled
    assert "T0-secret" not in first.describe()  # the webhook's token is not printed
    automations = prefect_api(prefect_server.api_url, "POST", "/automations/filter", {})
    assert [a["name"] for a in automations].count(AUTOMATION_NAME) == 1

    assert "sent a test alert" in asyncio.run(send_test_alert(settings))
    _alert_saying(received, "test of callsync's failure alert")

    run_ids: list[str] = []

    @flow(name="callsync-alert-probe", on_failure=[label_failed_run])
    def failing() -> None:
        run_ids.append(str(runtime.flow_run.id))
        raise RuntimeError("Zoho refused the refresh token")

    with pytest.raises(RuntimeError):
        failing()
    alert = _alert_saying(received, run_ids[0])
    assert alert["path"] == "/hooks/T0-secret"
    text = alert["json"]["text"]
    assert text.startswith("callsync: callsync-alert-probe run ")
    assert "entered Failed" in text and "Zoho refused the refresh token" in text
    assert f"{prefect_server.url}/runs/flow-run/{run_ids[0]}" in text
    failed = _run(prefect_server.api_url, run_ids[0])
    assert failed["name"].startswith("alert-probe ")
    assert failed["name"].endswith(" · failed: RuntimeError: Zoho refused the refresh token")

    # Switched off in the config: the automation goes.
    assert not asyncio.run(apply_alert(PrefectSettings())).enabled
    automations = prefect_api(prefect_server.api_url, "POST", "/automations/filter", {})
    assert AUTOMATION_NAME not in [a["name"] for a in automations]


def test_an_alert_block_made_in_the_ui_is_used_and_a_missing_one_is_one_line(
    prefect_harness: None, prefect_server: LocalPrefectServer
) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block_id = asyncio.run(
        CustomWebhookNotificationBlock(name="ops", url="http://127.0.0.1:9/x").asave(
            "ops-mail", overwrite=True
        )
    )
    result = asyncio.run(apply_alert(PrefectSettings(alert_block="custom-webhook/ops-mail")))
    assert result.describe().endswith("announced to the block custom-webhook/ops-mail")
    [automation] = [
        a
        for a in prefect_api(prefect_server.api_url, "POST", "/automations/filter", {})
        if a["name"] == AUTOMATION_NAME
    ]
    assert automation["actions"][0]["block_document_id"] == str(block_id)
    assert automation["trigger"]["expect"] == sorted(
        ["prefect.flow-run.Failed", "prefect.flow-run.Crashed"]
    ) or set(automation["trigger"]["expect"]) == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
    }

    with pytest.raises(ValueError) as err:
        asyncio.run(apply_alert(PrefectSettings(alert_block="custom-webhook/nope")))
    assert "no such block on the Prefect server" in str(err.value)
    asyncio.run(apply_alert(PrefectSettings()))
