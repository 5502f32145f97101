"""Benchmark: real time — pickup → lead in Zoho, and sustained webhooks per second.

The Zoho emulator runs in its own process (``callsync emulate``) answering every request after
``--latency-ms`` (default 150) with Zoho's concurrency limit (10); the receiver (``callsync
listen``'s app: uvicorn, SQLite state store, the background worker) and the sender run here.

1. **Latency**: ``--pickups`` pickups of new callers, sent at ``--rate`` per second (calls being
   picked up across a busy sales floor). For each: seconds from sending the webhook to the lead's
   insert answered by Zoho (the lead is in Zoho). Prints p50/p95/max.
2. **Throughput**: ``--burst`` pickups sent as fast as 32 connections allow. Prints the webhooks
   answered per second (stored in the inbox) and the events handled per second (leads in Zoho).

Prints one JSON object.

    .venv/bin/python benchmarks/bench_webhooks.py [--latency-ms 150] [--pickups 200] [--rate 5]
        [--burst 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from emulators.serve import BackgroundServer
from flows.runtime.listen import receiver_parts
from models.settings import load_settings
from tasks.pipeline.webhooks import Handled
from tasks.webhooks.receiver import Parts, create_receiver

TOKEN = "bench-token"
TOP = "5000000000000001001"
ANNA = "5000000000000001002"
SEED = {
    "users": [
        {
            "id": uid,
            "email": email,
            "full_name": name,
            "first_name": name.split()[0],
            "last_name": name.split()[1],
            "status": "active",
            "role": {"name": "Manager", "id": f"9{uid[-4:]}"},
            "profile": {"name": "Standard", "id": "7000000000000000001"},
            "time_zone": "Europe/Kiev",
        }
        for uid, email, name in (
            (TOP, "top@acme.test", "Tamara Top"),
            (ANNA, "anna@acme.test", "Anna Ivanova"),
        )
    ]
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def zoho_emulator(latency_ms: int) -> Iterator[str]:
    port, rs_port = _free_port(), _free_port()
    cmd = [str(Path(sys.executable).parent / "callsync"), "emulate", "--zoho-port", str(port),
           "--ringostat-port", str(rs_port), "--data", "empty"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=5) as http:
            for _ in range(600):
                try:
                    http.get(f"{url}/__emulator__/stats")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            http.post(f"{url}/__emulator__/seed", json=SEED).raise_for_status()
            faults = {"latency_ms": latency_ms, "concurrency_limit": 10}
            http.put(f"{url}/__emulator__/faults", json=faults).raise_for_status()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def pickup(n: int) -> dict[str, str]:
    return {
        "uniqueid": f"bench-{n:06d}",
        "caller": f"+38050{3000000 + n:07d}",
        "calldate": "2026-03-02 10:00:00",
        "connected_with": "anna_sip",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "bench",
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with zoho_emulator(args.latency_ms) as zoho_url:
        settings = load_settings(
            overrides={
                "zoho": {
                    "accounts_url": zoho_url,
                    "api_domain": zoho_url,
                    "client_id": "c",
                    "client_secret": "s",
                    "refresh_token": "r",
                    "max_concurrency": 10,
                },
                "ringostat": {"base_url": "http://127.0.0.1:9", "auth_key": "k"},
                "scenario": {"top_manager": "top@acme.test"},
                "employees": [{"zoho_user": "anna@acme.test", "sip": ["anna_sip"]}],
                "store": {"url": f"sqlite:///{workdir / 'state.db'}"},
                "webhook": {"token": TOKEN},
            }
        )
        handled: queue.Queue[tuple[float, Handled]] = queue.Queue()

        @asynccontextmanager
        async def parts() -> AsyncIterator[Parts]:
            emit = lambda h: handled.put((time.perf_counter(), h))  # noqa: E731
            async with receiver_parts(settings, emit=emit) as p:
                yield p

        with BackgroundServer(create_receiver(settings, parts), lifespan="on") as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:

                async def send(n: int) -> float:
                    started = time.perf_counter()
                    answer = await http.post(
                        "/ringostat/pickup", json=pickup(n), params={"token": TOKEN}
                    )
                    answer.raise_for_status()
                    return started

                # warm-up: token, users, the first index load
                await send(0)
                await asyncio.to_thread(handled.get, True, 120)

                # 1. latency at a steady rate
                sent: dict[str, float] = {}
                gap = 1.0 / args.rate
                tasks = []
                for n in range(1, args.pickups + 1):
                    tasks.append(asyncio.create_task(send(n)))
                    await asyncio.sleep(gap)
                for n, t in zip(range(1, args.pickups + 1), tasks, strict=True):
                    sent[f"bench-{n:06d}"] = await t
                latencies = []
                for _ in range(args.pickups):
                    at, h = await asyncio.to_thread(handled.get, True, 300)
                    assert h.outcome == "lead_created", h
                    latencies.append(at - sent[h.event.uniqueid])

                # 2. a burst
                base = args.pickups + 1
                limit = asyncio.Semaphore(32)

                async def burst_one(n: int) -> None:
                    async with limit:
                        await send(n)

                start = time.perf_counter()
                await asyncio.gather(*(burst_one(base + i) for i in range(args.burst)))
                accepted_s = time.perf_counter() - start
                last = start
                for _ in range(args.burst):
                    last, h = await asyncio.to_thread(handled.get, True, 600)
                handled_s = last - start
            stats = httpx.get(f"{zoho_url}/__emulator__/stats").json()
    return {
        "zoho_latency_ms": args.latency_ms,
        "pickup_to_lead": {
            "pickups": args.pickups,
            "rate_per_s": args.rate,
            "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(pct(latencies, 95), 3),
            "max_s": round(max(latencies), 3),
        },
        "burst": {
            "webhooks": args.burst,
            "answered_per_s": round(args.burst / accepted_s, 1),
            "handled_per_s": round(args.burst / handled_s, 1),
            "seconds_to_last_lead": round(handled_s, 2),
        },
        "zoho_requests": stats["requests"],
        "zoho_credits": stats["credits"],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--pickups", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callsync-bench-") as tmp:
        print(json.dumps(asyncio.run(run(args, Path(tmp))), indent=2))


if __name__ == "__main__":
    main()
