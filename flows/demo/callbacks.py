"""The demo's call-back story: a call-back that finishes itself, and a deadline in working hours.

1. A new client calls three times in ten minutes and nobody answers: the log sync writes one
   lead and ONE call-back task for the TOP manager, whose description lists the three calls.
2. An agent calls the client back and they talk: the next sync completes that task with a line
   saying who reached the client when.
3. Another client's call is missed after hours (19:30): the call-back's deadline is counted in
   working hours (the demo's ``[scenario.business_hours]``, 09:00–18:00 Monday to Friday), so it
   falls in the next working morning, and so does the reminder.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.table import Table

from emulators.demo_data import DemoDataset
from flows.demo.emulate import Emulators, post_calls
from flows.demo.live import _known_keys, _row
from models.call import mask_phone

Row = dict[str, Any]
BUSINESS_HOURS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
"""The demo company's working hours (the config's ``[scenario.business_hours]``)."""


def _new_numbers(dataset: DemoDataset, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    taken = _known_keys(dataset)
    out: list[str] = []
    while len(out) < count:
        number = f"38063{rng.randrange(10**7):07d}"
        if number[-9:] not in taken:
            taken.add(number[-9:])
            out.append(number)
    return out


def _missed(uid: str, start: datetime, zone: ZoneInfo, number: str) -> Row:
    return _row(uid, start, zone, number, "", disposition="NO ANSWER", duration=25, billsec=0)


def _agent(dataset: DemoDataset) -> tuple[str, str]:
    """(SIP login, full name) of the demo's first agent."""
    entry = dataset.employees[0]
    users = {u["email"]: u for u in dataset.zoho_seed.get("users", [])}
    user = users.get(str(entry["zoho_user"]), {})
    name = str(user.get("full_name") or f"{user.get('first_name', '')} {user.get('last_name', '')}")
    return str(entry["sip"][0]), name.strip() or str(entry["zoho_user"])


def _callback_row(
    uid: str, start: datetime, zone: ZoneInfo, number: str, sip: str, name: str
) -> Row:
    row = _row(uid, start, zone, number, "", disposition="ANSWERED", duration=150, billsec=140)
    row.update(call_type="out", caller=f'"{name}" <{sip}>', caller_number="", dst=number)
    row.update(utm_source="", utm_medium="", utm_campaign="")
    return row


def _task(http: httpx.Client, emu: Emulators, key: str) -> dict[str, Any]:
    tasks = http.get(f"{emu.zoho_url}/__emulator__/dump").json()["Tasks"]
    return next(t for t in tasks if t.get("rs_sync_key") == key)


def _sync(config: Path, as_of: datetime) -> dict[str, Any]:
    from flows.sync import sync_calls

    return asyncio.run(sync_calls(config=str(config), as_of=as_of))


def run_callbacks(
    console: Console,
    http: httpx.Client,
    emu: Emulators,
    dataset: DemoDataset,
    config: Path,
    after: datetime,
) -> datetime:
    """The call-back story (see the module docstring); returns the last sync's ``as_of``."""
    zone = ZoneInfo(dataset.timezone)
    day = after.astimezone(zone).date()
    begin = max(after.astimezone(zone), datetime.combine(day, time(11, 0), tzinfo=zone))
    client, late_client = _new_numbers(dataset, 2, seed=3)
    sip, agent = _agent(dataset)

    console.rule("call-backs close the loop: three missed calls, one task, completed by a call")
    missed = [
        _missed(f"cb-missed-{n}", begin + timedelta(minutes=minutes), zone, client)
        for n, minutes in enumerate((0, 4, 9), start=1)
    ]
    post_calls(http, emu, missed)
    first_sync = begin + timedelta(minutes=15)
    result = _sync(config, first_sync)
    task = _task(http, emu, "cb-missed-1/task")
    writes = result.get("writes", {})
    opened, merged = writes.get("Tasks/insert/success", 0), writes.get("Tasks/update/success", 0)
    console.print(
        f"{mask_phone(client)} called {len(missed)} times while nobody answered: {opened} "
        f"call-back task written, {merged} later calls added to it — "
        f"[bold]{task['Status']}[/], owner {task['Owner'].get('name') or task['Owner']['id']}:"
    )
    console.print(_lines(task["Description"], last=3), style="dim")

    reached_at = begin + timedelta(minutes=30)
    post_calls(http, emu, [_callback_row("cb-reached", reached_at, zone, client, sip, agent)])
    _sync(config, reached_at + timedelta(minutes=15))
    task = _task(http, emu, "cb-missed-1/task")
    console.print(
        f"{agent} called the client back at {reached_at:%H:%M} and they talked: the task is now "
        f"[bold]{task['Status']}[/] — “{task['Description'].splitlines()[-1]}”."
    )

    console.rule("a missed call after hours: the deadline falls in the next working morning")
    evening = datetime.combine(day, time(19, 30), tzinfo=zone)
    post_calls(http, emu, [_missed("cb-evening", evening, zone, late_client)])
    last = evening + timedelta(minutes=15)
    _sync(config, last)
    task = _task(http, emu, "cb-evening/task")
    remind = str(task.get("Remind_At", {}).get("ALARM", "")).rpartition("DATE-TIME:")[2]
    due = datetime.fromisoformat(remind).astimezone(zone) if remind else None
    table = Table(title_justify="left")
    for name in ("missed call", "working hours", "call-back due", "reminder"):
        table.add_column(name)
    table.add_row(
        f"{evening:%a %Y-%m-%d %H:%M}",
        f"{BUSINESS_HOURS['start']}–{BUSINESS_HOURS['end']} Mon–Fri",
        str(task.get("Due_Date")),
        f"{due:%a %Y-%m-%d %H:%M}" if due else "—",
    )
    console.print(table)
    console.print(
        f"Four working hours from {evening:%H:%M} on {evening:%A} end at "
        f"{due:%H:%M} on {due:%A}: the reminder pops up when someone is at work."
        if due
        else "The call-back has no reminder."
    )
    return last


def _lines(text: str, *, last: int) -> str:
    lines = text.splitlines()
    shown = lines[-last:]
    return "\n".join(["  …", *(f"  {line}" for line in shown)] if len(lines) > last else shown)
