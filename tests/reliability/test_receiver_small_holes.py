"""The receiver's small holes, closed: what it serves, whom it believes, what it can parse.

An adversarial pass found: ``?token=wrong&token=RIGHT`` accepted (the last value won);
``/ringostat%2Fpickup`` routed to the pickup endpoint; ``/openapi.json`` served without a token;
JSON nested 30,000 deep answered 500 (and was lost) instead of 400 and the quarantine; a body
that never finishes held its request forever. The receiver runs here in this process (uvicorn on
127.0.0.1); the slow-client and locked-store points run against real processes
(``test_receiver_keeps_answering``).
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.webhook_support import TOKEN, ZohoWorld, pickup, receiver, zoho_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ZohoWorld]:
    with zoho_world(tmp_path) as w:
        yield w


def _quarantine(world: ZohoWorld) -> list[tuple[str, str]]:
    with sqlite3.connect(world.tmp_path / "state.db") as db:
        return list(db.execute("select reason, detail from quarantine"))


def test_no_api_schema_or_docs_page_is_served(world: ZohoWorld) -> None:
    with receiver(world.settings(), process=False) as rx, httpx.Client(base_url=rx.url) as http:
        answers = {
            path: http.get(path).status_code for path in ("/openapi.json", "/docs", "/redoc")
        }
    assert answers == {"/openapi.json": 404, "/docs": 404, "/redoc": 404}


def test_a_token_given_more_than_once_is_refused(world: ZohoWorld) -> None:
    body = pickup("tok-1", "+380507771001")
    with receiver(world.settings(), process=False) as rx, httpx.Client(base_url=rx.url) as http:
        repeated = http.post(f"/ringostat/pickup?token=wrong&token={TOKEN}", json=body)
        twice_right = http.post(f"/ringostat/pickup?token={TOKEN}&token={TOKEN}", json=body)
        query_and_header = http.post(
            "/ringostat/pickup?token=wrong", json=body, headers={"X-Callsync-Token": TOKEN}
        )
        once = http.post(f"/ringostat/pickup?token={TOKEN}", json=body)
    assert (repeated.status_code, twice_right.status_code, query_and_header.status_code) == (
        401,
        401,
        401,
    )
    assert once.status_code == 200


@pytest.mark.parametrize(
    "path", ["/ringostat%2Fpickup", "/ringostat/pick%75p", "/%72ingostat/pickup"]
)
def test_an_escaped_path_is_not_an_endpoint(world: ZohoWorld, path: str) -> None:
    with receiver(world.settings(), process=False) as rx, httpx.Client(base_url=rx.url) as http:
        answer = http.post(f"{path}?token={TOKEN}", json=pickup("esc-1", "+380507771002"))
    assert answer.status_code == 404


def test_json_nested_30000_deep_is_a_bad_webhook_kept_in_quarantine(world: ZohoWorld) -> None:
    nested = b'{"uniqueid": "deep-1", "caller": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    with receiver(world.settings(), process=False) as rx, httpx.Client(base_url=rx.url) as http:
        answer = http.post(
            f"/ringostat/pickup?token={TOKEN}",
            content=nested,
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 400, answer.text
    assert "nested" in answer.json()["message"]
    [(reason, detail)] = _quarantine(world)
    assert (reason, detail) == ("bad_webhook", answer.json()["message"])


def test_a_body_that_never_finishes_is_answered_408(world: ZohoWorld) -> None:
    settings = world.settings(body_timeout_s=0.5)
    with receiver(settings, process=False) as rx:
        host, port = rx.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(
                f"POST /ringostat/pickup?token={TOKEN} HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n".encode()
                + json.dumps(pickup("slow-1", "+380507771003"))[:40].encode()
            )
            answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
