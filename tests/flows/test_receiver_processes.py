"""The real receiver (``callsync listen``) and the real log sync (``callsync sync``) as
processes, against the emulators on 127.0.0.1, on SQLite and PostgreSQL.

- The receiver keeps its phone index current on a timer of its own: a lead someone creates in
  Zoho reaches the index with no webhook arriving at all.
- Two calls from each of 100 new numbers, handled at the same moment by the two paths: while
  the log sync is writing the leads of the first calls (held at a gate in front of Zoho: the
  moment is the same for certain, not by luck), the pickups of the second calls reach the
  receiver. One lead per number between them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import tomli_w
from starlette.types import Message

from emulators.ringostat.app import create_app as create_ringostat
from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.prefect_server import LocalPrefectServer
from tasks.store import Store
from tasks.webhooks.inbox import Inbox
from tests.reliability.conftest import Clock, Services
from tests.support.databases import BACKENDS, store_database
from tests.support.processes import WAIT_S, Command

TOKEN = "receiver-process-token"
WINDOW = ["--from", "2026-03-02T00:00:00", "--to", "2026-03-02T23:59:59"]
Scope = dict[str, Any]


class ZohoGate:
    """ASGI in front of the Zoho emulator.

    ``hold``: the first ``POST /crm/v8/Leads`` whose body holds this text waits at the gate
    (``entered`` is set) until ``opened``. ``lead_reads`` counts the requests that list or query
    Leads, and ``reads_seen`` is notified on each: the receiver's index refreshes are visible."""

    def __init__(self, app: Any, hold: str | None = None) -> None:
        self.app = app
        self.hold = hold
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.lead_reads = 0
        self.reads_seen = threading.Condition()

    async def _body(self, receive: Any) -> bytes:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], str(scope["path"])
        body = await self._body(receive)
        if (method, path) == ("GET", "/crm/v8/Leads") or (
            path == "/crm/v8/coql" and b"from Leads where" in body and b"Modified_Time >=" in body
        ):
            with self.reads_seen:
                self.lead_reads += 1
                self.reads_seen.notify_all()
        if (
            self.hold is not None
            and (method, path) == ("POST", "/crm/v8/Leads")
            and self.hold.encode() in body
            and not self.entered.is_set()
        ):
            self.entered.set()
            await anyio.to_thread.run_sync(self.opened.wait)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def wait_for_reads(self, count: int) -> None:
        with self.reads_seen:
            if not self.reads_seen.wait_for(lambda: self.lead_reads >= count, timeout=WAIT_S):
                raise AssertionError(f"the receiver read Leads {self.lead_reads} times")


@dataclass
class World:
    services: Services
    gate: ZohoGate
    store_url: str
    config: Path
    env: dict[str, str]
    cwd: Path
    port: int

    def listen(self) -> Command:
        command = Command(
            ["listen", "--config", str(self.config), "--port", str(self.port)], self.env, self.cwd
        )
        command.wait_for("callsync webhook receiver on")
        return command

    def sync(self) -> Command:
        return Command(["sync", "--config", str(self.config), *WINDOW], self.env, self.cwd)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def open_world(
    backend: str, tmp_path: Path, api_url: str, *, hold: str | None = None, **webhook: Any
) -> Iterator[World]:
    clock = Clock()
    zoho_app = create_zoho(clock=clock)
    gate = ZohoGate(zoho_app, hold)
    port = _free_port()
    with (
        store_database(backend, tmp_path) as url,
        BackgroundServer(gate) as zoho,
        BackgroundServer(create_ringostat(auth_key="test-key")) as ringostat,
        httpx.Client(timeout=30) as http,
    ):
        services = Services(zoho.url, ringostat.url, clock, http, tmp_path, zoho_app.state.zoho)
        values = services.settings_dict(url=url)
        values["webhook"] = {"token": TOKEN, **webhook}
        config = tmp_path / "callsync.toml"
        config.write_bytes(tomli_w.dumps(values).encode())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALLSYNC_"))}
        env.update(
            PREFECT_API_URL=api_url,
            PREFECT_HOME=str(tmp_path / "client-home"),
            DO_NOT_TRACK="1",
            COLUMNS="200",
        )
        try:
            yield World(services, gate, url, config, env, tmp_path, port)
        finally:
            gate.opened.set()


def _stop(command: Command) -> None:
    os.killpg(command.proc.pid, signal.SIGTERM)
    command.finish()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_receiver_keeps_its_index_current_without_webhooks(
    backend: str, tmp_path: Path, prefect_server: LocalPrefectServer
) -> None:
    with open_world(backend, tmp_path, prefect_server.api_url, index_refresh_s=0.2) as world:
        receiver = world.listen()
        try:
            answer = world.services.http.post(
                f"{world.services.zoho_url}/__emulator__/seed",
                json={"Leads": [{"Last_Name": "Web form", "Phone": "+38 (093) 000-10-30"}]},
            )
            lead_id = answer.json()["ids"]["Leads"][0]
            seen = world.gate.lead_reads
            # The first read of Leads that starts after the web form is in Zoho sees its lead; the
            # timer starts the next read only after that one was saved in the store.
            world.gate.wait_for_reads(seen + 2)
            with Store(world.store_url) as store:
                found = [(r.module, r.id) for r in store.index_for_keys(["930001030"])]
                events = Inbox(store).counts()
        finally:
            _stop(receiver)
    assert found == [("Leads", lead_id)]
    assert events == {}  # no webhook came: the timer did it


def _numbers() -> list[str]:
    return [f"+38067{5000000 + n * 7919:07d}" for n in range(100)]


def _first_call(n: int, number: str) -> dict[str, Any]:
    return {
        "uniqueid": f"first-{n:03d}",
        "calldate": f"2026-03-02 09:{n % 60:02d}:{n // 60:02d}",
        "call_type": "in",
        "disposition": "ANSWERED",
        "caller": number,
        "dst": "+380441234567",
        "connected_with": "top_sip",
        "duration": 90,
        "billsec": 60,
    }


def _wait_until_handled(store_url: str, count: int) -> dict[str, int]:
    """The receiver's inbox once ``count`` events are handled (another process's state: there
    is no event to wait on, so it is read again until then)."""
    deadline = time.monotonic() + WAIT_S
    with Store(store_url) as store:
        while True:
            counts = Inbox(store).counts()
            if sum(v for k, v in counts.items() if not k.endswith("/pending")) >= count:
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver did not handle the pickups: {counts}")
            time.sleep(0.05)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_paths_at_the_same_moment_make_one_lead_per_number(
    backend: str, tmp_path: Path, prefect_server: LocalPrefectServer
) -> None:
    numbers = _numbers()
    with open_world(
        backend, tmp_path, prefect_server.api_url, hold="first-", index_refresh_s=3600
    ) as world:
        world.services.post_calls([_first_call(n, number) for n, number in enumerate(numbers)])
        receiver = world.listen()
        try:
            sync = world.sync()
            if not world.gate.entered.wait(timeout=WAIT_S):
                sync.proc.kill()
                sync.finish()
                raise AssertionError(f"the sync never wrote:\n{''.join(sync.output)}")
            # The log sync is writing the first calls' leads this very moment: the second
            # calls are picked up.
            url = f"http://127.0.0.1:{world.port}/ringostat/pickup"
            with httpx.Client(timeout=30) as http:
                for n, number in enumerate(numbers):
                    body = {
                        "uniqueid": f"second-{n:03d}",
                        "caller": number,
                        "calldate": "2026-03-02 11:30:00",
                        "connected_with": "top_sip",
                    }
                    assert http.post(url, json=body, params={"token": TOKEN}).status_code == 200
            counts = _wait_until_handled(world.store_url, len(numbers))
            world.gate.opened.set()
            assert sync.finish() == 0, "".join(sync.output)
        finally:
            _stop(receiver)
        leads = [r for r in world.services.dump()["Leads"] if r.get("rs_sync_key")]
    per_number = Counter(str(r["Phone"]) for r in leads)
    twice = sorted(n for n, c in per_number.items() if c > 1)
    assert twice == [], f"{len(twice)} of {len(numbers)} numbers got two leads"
    assert set(per_number) == set(numbers)
    assert counts == {"pickup/done/lead_claimed": len(numbers)}, json.dumps(counts)
