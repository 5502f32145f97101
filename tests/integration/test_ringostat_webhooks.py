"""The Ringostat emulator sends webhooks as its calls progress, once, with an error log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.ringostat.app import create_app
from emulators.serve import BackgroundServer


class Capture:
    """A webhook target: records what it got; answers ``status``."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.status = 200
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "POST"])
        async def hook(path: str, request: Request) -> JSONResponse:
            body = await request.body()
            self.got.append(
                {
                    "path": "/" + path,
                    "method": request.method,
                    "query": dict(request.query_params),
                    "type": request.headers.get("content-type", ""),
                    "body": body.decode(),
                }
            )
            return JSONResponse({}, status_code=self.status)


@pytest.fixture
def servers() -> Iterator[tuple[str, Capture, httpx.Client]]:
    capture = Capture()
    with (
        BackgroundServer(create_app(auth_key="k")) as ringostat,
        BackgroundServer(capture.app) as target,
        httpx.Client(base_url=ringostat.url, timeout=30) as http,
    ):
        hooks = {
            "webhooks": [
                {
                    "event": "pickup",
                    "url": f"{target.url}/pickup?token=t0k",
                    "method": "GET",
                    "params": {"uniqueid": "call_id", "caller": "phone", "utm_source": "src"},
                },
                {
                    "event": "after_call",
                    "url": f"{target.url}/after?token=t0k",
                    "method": "POST",
                    "format": "form",
                    "params": {"uniqueid": "uniqueid", "disposition": "disposition"},
                },
                {
                    "event": "outgoing_after_call",
                    "url": f"{target.url}/out",
                    "params": {"uniqueid": "uniqueid", "dst": "dst"},
                },
            ]
        }
        assert http.put("/__emulator__/webhooks", json=hooks).status_code == 200
        capture.target = target.url  # type: ignore[attr-defined]
        yield ringostat.url, capture, http


def _row(uid: str, disposition: str, **extra: Any) -> dict[str, Any]:
    return {
        "uniqueid": uid,
        "calldate": "2026-03-02 10:00:00",
        "call_type": "in",
        "caller": "380501112299",
        "disposition": disposition,
        "utm_source": "google",
        **extra,
    }


def test_webhooks_follow_the_calls_progress_and_are_sent_once(
    servers: tuple[str, Capture, httpx.Client],
) -> None:
    _, capture, http = servers
    http.post("/__emulator__/calls", json=[_row("c1", "CALLING")])
    assert capture.got == []  # ringing: nothing yet
    http.post("/__emulator__/calls", json=[_row("c1", "IN PROGRESS", connected_with="anna_sip")])
    assert [g["path"] for g in capture.got] == ["/pickup"]
    pickup = capture.got[0]
    assert pickup["method"] == "GET"
    assert pickup["query"] == {
        "token": "t0k",
        "call_id": "c1",
        "phone": "380501112299",
        "src": "google",
    }
    http.post("/__emulator__/calls", json=[_row("c1", "ANSWERED", connected_with="anna_sip")])
    assert [g["path"] for g in capture.got] == ["/pickup", "/after"]
    after = capture.got[1]
    assert after["type"].startswith("application/x-www-form-urlencoded")
    assert after["body"] == "uniqueid=c1&disposition=ANSWERED"
    # the same final row again (a late recording): nothing is sent twice
    http.post("/__emulator__/calls", json=[_row("c1", "ANSWERED", recording="https://r/1.mp3")])
    assert len(capture.got) == 2

    # an answered call first seen when it is over: its pickup, then its after-call
    # a missed call: after-call only; an outgoing call: its own webhook; transit: nothing
    http.post(
        "/__emulator__/calls",
        json=[
            _row("c2", "ANSWERED", connected_with="boris_sip"),
            _row("c3", "NO ANSWER"),
            {**_row("c4", "ANSWERED"), "call_type": "out", "dst": "380501112288"},
            {**_row("c5", "ANSWERED"), "call_type": "transitin"},
        ],
    )
    sent = [(g["path"], g["query"].get("call_id") or g["body"]) for g in capture.got[2:]]
    assert sorted(sent) == sorted(
        [
            ("/pickup", "c2"),
            ("/after", "uniqueid=c2&disposition=ANSWERED"),
            ("/after", "uniqueid=c3&disposition=NO+ANSWER"),
            ("/out", '{"uniqueid":"c4","dst":"380501112288"}'),
        ]
    )
    assert sent.index(("/pickup", "c2")) < sent.index(
        ("/after", "uniqueid=c2&disposition=ANSWERED")
    )
    summary = http.get("/__emulator__/webhooks").json()
    assert summary["sent"] == 6 and summary["errors"] == 0
    assert http.get("/__emulator__/stats").json() == {"requests": 0, "calls": 5}


def test_failed_webhooks_go_to_the_error_log_and_are_never_resent(
    servers: tuple[str, Capture, httpx.Client],
) -> None:
    _, capture, http = servers
    capture.status = 503
    http.post("/__emulator__/calls", json=[_row("f1", "IN PROGRESS", connected_with="anna_sip")])
    capture.status = 200
    http.post(
        "/__emulator__/calls",
        json=[_row("f1", "IN PROGRESS", connected_with="anna_sip", utm_term="x")],
    )
    errors = http.get("/__emulator__/webhooks/errors").json()["errors"]
    assert [(e["event"], e["uniqueid"], e["status"]) for e in errors] == [("pickup", "f1", 503)]
    assert "token" not in errors[0]["url"]
    assert len(capture.got) == 1  # not resent

    # a receiver that does not answer at all
    hooks = {"webhooks": [{"event": "after_call", "url": "http://127.0.0.1:9/after"}]}
    http.put("/__emulator__/webhooks", json=hooks)
    http.post("/__emulator__/calls", json=[_row("f1", "ANSWERED")])
    errors = http.get("/__emulator__/webhooks/errors").json()["errors"]
    assert [(e["event"], e["status"]) for e in errors] == [("pickup", 503), ("after_call", None)]
    assert errors[1]["error"].startswith("ConnectError")
    deliveries = http.get("/__emulator__/webhooks/deliveries").json()["deliveries"]
    assert len(deliveries) == 2


def test_bad_webhook_settings_are_refused(servers: tuple[str, Capture, httpx.Client]) -> None:
    _, _, http = servers
    answer = http.put(
        "/__emulator__/webhooks", json={"webhooks": [{"event": "before_call", "url": "x"}]}
    )
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("webhook settings:")
