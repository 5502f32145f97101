"""The demo's real-time part: leads during calls, a receiver outage the log sync heals.

1. The webhook receiver starts (``callsync listen``'s app) and the Ringostat emulator is told to
   send its webhooks there, as a Ringostat admin would set them up.
2. Live calls are picked up: the pickup webhooks arrive while the call log still says
   ``IN PROGRESS``; new callers' leads appear in Zoho with the measured pickup → lead latency,
   existing clients get nothing yet. Then the calls end: the after-call webhooks write their tasks.
3. The receiver goes down; more calls happen; Ringostat marks their webhooks "with error" (its
   error log) and never resends them. The next scheduled log sync brings those calls.
4. The counts that prove nothing was written twice: every callsync record in Zoho has its own
   ``rs_sync_key``, no caller got two leads, the log sync sent nothing for the calls the webhooks
   had handled.
"""

from __future__ import annotations

import asyncio
import queue
import random
import secrets
import statistics
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.table import Table

from emulators.demo_data import DemoDataset
from emulators.ringostat.fields import KNOWN_FIELDS
from emulators.serve import BackgroundServer
from flows.demo.emulate import DEMO_TIMEZONE, Emulators, point_webhooks, post_calls
from models.call import mask_phone

Row = dict[str, Any]
LIVE_NEW, LIVE_EXISTING, OUTAGE_CALLS = 10, 3, 5


def webhook_token() -> str:
    return secrets.token_urlsafe(24)


def _digits(text: object) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit())


def _known_keys(dataset: DemoDataset) -> set[str]:
    keys = set()
    for module in ("Leads", "Contacts"):
        for rec in dataset.zoho_seed.get(module, []):
            for name in ("Phone", "Mobile", "Home_Phone", "Other_Phone"):
                digits = _digits(rec.get(name))
                if len(digits) >= 9:
                    keys.add(digits[-9:])
    for row in dataset.final_calls:
        digits = _digits(row.get("caller"))
        if len(digits) >= 9:
            keys.add(digits[-9:])
    return keys


def _row(uid: str, start: datetime, zone: ZoneInfo, caller: str, sip: str, **fields: Any) -> Row:
    row: Row = dict.fromkeys(KNOWN_FIELDS, "")
    row.update(
        uniqueid=uid,
        calldate=start.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        call_type="in",
        caller=caller,
        caller_number=caller,
        connected_with=sip,
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="live_demo",
        **fields,
    )
    return row


def live_calls(
    dataset: DemoDataset, start: datetime, prefix: str, *, new: int, existing: int, seed: int
) -> list[tuple[Row, Row]]:
    """(row while talking, final row) per call: ``new`` new callers, ``existing`` known ones."""
    rng = random.Random(seed)
    zone = ZoneInfo(dataset.timezone)
    sips = [s for e in dataset.employees for s in e.get("sip", [])]
    taken = _known_keys(dataset)
    numbers: list[str] = []
    while len(numbers) < new:
        number = f"38093{rng.randrange(10**7):07d}"
        if number[-9:] not in taken:
            taken.add(number[-9:])
            numbers.append(number)
    clients = [
        _digits(r.get("Phone") or r.get("Mobile"))
        for r in dataset.zoho_seed.get("Leads", [])
        if len(_digits(r.get("Phone") or r.get("Mobile"))) >= 11
    ]
    numbers += rng.sample(clients, min(existing, len(clients)))
    calls = []
    for n, number in enumerate(numbers):
        uid = f"{prefix}-{n + 1:02d}"
        begin = start + timedelta(seconds=20 * n)
        sip = rng.choice(sips)
        talking = _row(uid, begin, zone, number, sip, disposition="IN PROGRESS")
        talk = rng.randrange(40, 300)
        recording = f"https://app.ringostat.com/recordings/{uid}"
        final = _row(uid, begin, zone, number, sip, disposition="ANSWERED",
                     duration=talk + 8, billsec=talk, waittime=8, has_recording=1,
                     recording=f"{recording}.mp3", recording_wav=f"{recording}.wav")  # fmt: skip
        calls.append((talking, final))
    return calls


def run_live(
    console: Console, http: httpx.Client, emu: Emulators, dataset: DemoDataset, config: Path
) -> datetime:
    """The real-time part of the demo; returns the moment the next sync runs as of."""
    from flows.cli.render import print_summary
    from flows.runtime.listen import receiver_parts
    from flows.sync import sync_calls
    from models.settings import load_settings
    from tasks.pipeline.webhooks import Handled
    from tasks.webhooks.receiver import Parts, create_receiver
    from tasks.webhooks.steps import prefect_emitter

    settings = load_settings(config)
    token = settings.webhook.token.get_secret_value()
    start = dataset.phase_times[-1] + timedelta(minutes=30)
    live = live_calls(dataset, start, "live", new=LIVE_NEW, existing=LIVE_EXISTING, seed=1)
    handled: queue.Queue[Handled] = queue.Queue()
    to_prefect = prefect_emitter()

    def emit(h: Handled) -> None:
        to_prefect(h)
        handled.put(h)

    @asynccontextmanager
    async def parts() -> AsyncIterator[Parts]:
        async with receiver_parts(settings, emit=emit) as p:
            yield p

    console.rule("real time: Ringostat webhooks → the receiver (callsync listen)")
    with BackgroundServer(create_receiver(settings, parts), lifespan="on") as server:
        point_webhooks(http, emu, server.url, token)
        console.print(
            f"Receiver on {server.url}/ringostat/…; Ringostat sends pickup (GET), after-call and "
            "outgoing after-call (POST JSON), the token in the URL."
        )
        post_calls(http, emu, [talking for talking, _ in live])
        pickups = [handled.get(timeout=120) for _ in live]
        in_zoho = _callsync_leads(http, emu)
        _pickup_table(console, pickups, in_zoho, live)
        post_calls(http, emu, [final for _, final in live])
        after = [handled.get(timeout=120) for _ in live]
        tasks = sum(
            1
            for t in _dump(http, emu)["Tasks"]
            if str(t.get("rs_sync_key", "")).startswith("live-")
        )
        console.print(
            f"The calls ended: {sum(h.outcome == 'synced' for h in after)} after-call webhooks "
            f"handled, {tasks} tasks with the recording written at once (no log sync yet)."
        )

    console.rule("receiver outage: Ringostat's webhooks get no answer")
    outage = live_calls(
        dataset, start + timedelta(minutes=10), "outage", new=OUTAGE_CALLS, existing=0, seed=2
    )
    post_calls(http, emu, [talking for talking, _ in outage])
    post_calls(http, emu, [final for _, final in outage])
    errors = http.get(f"{emu.ringostat_url}/__emulator__/webhooks/errors").json()["errors"]
    lost = [e for e in errors if e["uniqueid"].startswith("outage-")]
    console.print(
        f"Ringostat's webhook error log: {len(lost)} webhooks of {len(outage)} calls 'with error' "
        f"— never resent. Leads for them in Zoho: {_count_prefix(_callsync_leads(http, emu), 'outage-')}."
    )

    live_before_sync = _live_records(http, emu)
    as_of = start + timedelta(hours=1)
    console.rule(f"the scheduled log sync (as of {as_of:%Y-%m-%d %H:%M} UTC) heals it")
    result = asyncio.run(sync_calls(config=str(config), as_of=as_of))
    print_summary(result, console, data_docs_note=False, tz=DEMO_TIMEZONE)
    leads = _callsync_leads(http, emu)
    _proof(console, http, emu, leads, live_before_sync, result)
    return as_of


def _dump(http: httpx.Client, emu: Emulators) -> dict[str, list[dict[str, Any]]]:
    answer: dict[str, list[dict[str, Any]]] = http.get(f"{emu.zoho_url}/__emulator__/dump").json()
    return answer


def _callsync_leads(http: httpx.Client, emu: Emulators) -> dict[str, dict[str, Any]]:
    return {str(r["rs_sync_key"]): r for r in _dump(http, emu)["Leads"] if r.get("rs_sync_key")}


def _count_prefix(records: Mapping[str, Any], prefix: str) -> int:
    return sum(1 for key in records if key.startswith(prefix))


def _pickup_table(
    console: Console,
    pickups: list[Any],
    in_zoho: Mapping[str, dict[str, Any]],
    live: list[tuple[Row, Row]],
) -> None:
    callers = {talking["uniqueid"]: talking["caller"] for talking, _ in live}
    table = Table(title="Pickups while the calls are still IN PROGRESS", title_justify="left")
    for name in ("call", "caller", "pickup →", "lead in Zoho", "seconds"):
        table.add_column(name, justify="right" if name == "seconds" else "left")
    for h in sorted(pickups, key=lambda h: h.event.uniqueid):
        uid = h.event.uniqueid
        lead = in_zoho.get(f"{uid}/lead")
        table.add_row(
            uid,
            mask_phone(callers[uid]),
            "existing client: nothing yet" if h.outcome == "existing_client" else h.outcome,
            f"owner {lead['Owner'].get('name') or lead['Owner']['id']}" if lead else "—",
            f"{h.seconds:.2f}" if lead else "",
        )
    console.print(table)
    created = [h.seconds for h in pickups if h.outcome == "lead_created"]
    if created:
        console.print(
            f"pickup → lead in Zoho: median {statistics.median(created):.2f}s, "
            f"max {max(created):.2f}s over {len(created)} new callers "
            "(from the webhook's arrival to Zoho's answer to the insert)."
        )


def _live_records(http: httpx.Client, emu: Emulators) -> int:
    dump = _dump(http, emu)
    return sum(
        1
        for m in ("Leads", "Tasks")
        for r in dump[m]
        if str(r.get("rs_sync_key", "")).startswith("live-")
    )


def _proof(
    console: Console,
    http: httpx.Client,
    emu: Emulators,
    leads: Mapping[str, dict[str, Any]],
    live_before_sync: int,
    result: Mapping[str, Any],
) -> None:
    dump = _dump(http, emu)
    keys = [
        str(r["rs_sync_key"]) for m in ("Leads", "Tasks") for r in dump[m] if r.get("rs_sync_key")
    ]
    phones: dict[str, int] = {}
    for lead in leads.values():
        key = _digits(lead.get("Phone"))[-9:]
        phones[key] = phones.get(key, 0) + 1
    written = sum(v for k, v in result.get("writes", {}).items() if k.endswith("/success"))
    table = Table(title="Nothing written twice", title_justify="left")
    table.add_column("check")
    table.add_column("count", justify="right")
    table.add_row("leads of the live calls (webhooks)", str(_count_prefix(leads, "live-")))
    table.add_row("leads of the outage calls (log sync)", str(_count_prefix(leads, "outage-")))
    table.add_row("callsync records in Zoho (Leads, Tasks)", str(len(keys)))
    table.add_row("… with a repeated rs_sync_key", str(len(keys) - len(set(keys))))
    table.add_row("callers with two callsync leads", str(sum(1 for n in phones.values() if n > 1)))
    table.add_row("records the log sync wrote (outage calls)", str(written))
    table.add_row(
        "live calls' records before → after the log sync",
        f"{live_before_sync} → {_live_records(http, emu)}",
    )
    console.print(table)
    console.print(
        "Each webhook handled is an event in the Prefect UI (Events: callsync.webhook.*), "
        "with its outcome and latency."
    )
