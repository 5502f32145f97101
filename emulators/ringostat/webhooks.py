"""The Ringostat emulator's webhooks: sent as calls progress, once, failures kept in an error log.

Ringostat's behaviour reproduced (help centre, "Webhooks" and "Webhook Error Check"):

- per webhook the project sets the event, the URL (static parameters such as a token go in its
  query string), the HTTP method (GET or POST), the format (JSON body or form-encoded body; GET
  sends the parameters in the query string) and which call parameters are sent under which names;
- events: ``pickup`` (an incoming call is picked up), ``after_call`` (an incoming call ended),
  ``outgoing_after_call`` (an outgoing call ended);
- each webhook is sent **once**; an answer other than 200 or no answer marks it "with error" in
  the error log, and it is never resent.

How the emulator sees a call progress: rows posted to ``/__emulator__/calls`` replace the row of
their ``uniqueid``. An incoming row ``IN PROGRESS`` with ``connected_with`` set is the pickup; a
row with a final disposition is the end of the call (an answered one that was never seen in
progress gets its pickup first, as Ringostat would have sent it during the call). Transit calls
and rows without ``uniqueid`` send nothing.

Admin API (under ``/__emulator__``): ``PUT /webhooks`` (body ``{"webhooks": [{"event", "url",
"method", "format", "params"}]}``; ``params`` maps call fields to the names sent, default every
call-log field under its own name), ``GET /webhooks`` (the settings and counts), ``GET
/webhooks/errors`` (the error log) and ``GET /webhooks/deliveries`` (every webhook sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from emulators.ringostat.fields import KNOWN_FIELDS

Row = dict[str, Any]
Event = Literal["pickup", "after_call", "outgoing_after_call"]
NOT_FINAL = frozenset({"IN PROGRESS", "CALLING"})
ANSWERED = frozenset({"ANSWERED", "PROPER", "REPEATED"})
INBOUND = frozenset({"in", "callback"})


class WebhookConfig(BaseModel):
    """One webhook as a Ringostat admin sets it up."""

    model_config = ConfigDict(extra="forbid")

    event: Event
    url: str
    method: Literal["GET", "POST"] = "POST"
    format: Literal["json", "form"] = "json"
    params: dict[str, str] = Field(default_factory=lambda: {f: f for f in KNOWN_FIELDS})
    """Call field → the name it is sent under."""


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhooks: list[WebhookConfig] = Field(default_factory=list)


def _disposition(row: Mapping[str, Any]) -> str:
    text = str(row.get("disposition") or "").replace("+", " ").replace("_", " ")
    return " ".join(text.split()).upper()


def events_for(row: Mapping[str, Any], fired: set[tuple[str, str]]) -> list[Event]:
    """The events a call's new row makes due, given what was already sent."""
    uid = str(row.get("uniqueid") or "").strip()
    call_type = str(row.get("call_type") or "").strip().lower()
    if not uid:
        return []
    disposition = _disposition(row)
    final = bool(disposition) and disposition not in NOT_FINAL
    due: list[Event] = []
    if call_type in INBOUND:
        picked = (disposition == "IN PROGRESS" and bool(row.get("connected_with"))) or (
            final and disposition in ANSWERED
        )
        if picked and ("pickup", uid) not in fired:
            due.append("pickup")
        if final and ("after_call", uid) not in fired:
            due.append("after_call")
    elif call_type == "out" and final and ("outgoing_after_call", uid) not in fired:
        due.append("outgoing_after_call")
    return due


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class WebhookSender:
    """The emulator's webhook state: settings, what was sent, the error log."""

    timeout_s: float = 10.0
    concurrency: int = 16
    settings: WebhookSettings = field(default_factory=WebhookSettings)
    fired: set[tuple[str, str]] = field(default_factory=set)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.settings = WebhookSettings()
        self.fired.clear()
        self.deliveries.clear()
        self.errors.clear()

    def due(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Event, Row]]:
        """Mark and return the events the posted rows make due (each sent once)."""
        out: list[tuple[Event, Row]] = []
        for raw in rows:
            row = dict(raw)
            for event in events_for(row, self.fired):
                self.fired.add((event, str(row["uniqueid"]).strip()))
                out.append((event, row))
        return out

    async def send(self, due: Sequence[tuple[Event, Row]]) -> None:
        """Send every configured webhook of every due event; returns when all were answered.

        Events of one call go in order (pickup before after-call); calls go concurrently.
        """
        hooks = self.settings.webhooks
        if not due or not hooks:
            return
        by_call: dict[str, list[tuple[Event, Row]]] = {}
        for event, row in due:
            by_call.setdefault(str(row["uniqueid"]), []).append((event, row))
        limit = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:

            async def call_events(items: list[tuple[Event, Row]]) -> None:
                async with limit:
                    for event, row in items:
                        for hook in hooks:
                            if hook.event == event:
                                await self._one(http, hook, event, row)

            await asyncio.gather(*(call_events(items) for items in by_call.values()))

    async def _one(
        self, http: httpx.AsyncClient, hook: WebhookConfig, event: Event, row: Row
    ) -> None:
        params = {
            name: "" if row.get(f) is None else str(row.get(f)) for f, name in hook.params.items()
        }
        entry: dict[str, Any] = {
            "event": event,
            "uniqueid": str(row.get("uniqueid")),
            "url": hook.url.split("?")[0],
            "method": hook.method,
            "sent_at": _now(),
        }
        try:
            if hook.method == "GET":
                # the URL's own (static) parameters stay: httpx's params= would replace them
                answer = await http.get(httpx.URL(hook.url).copy_merge_params(params))
            elif hook.format == "form":
                answer = await http.post(hook.url, data=params)
            else:
                answer = await http.post(hook.url, json=params)
        except httpx.HTTPError as exc:
            entry.update(status=None, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
            self.errors.append(entry)
            self.deliveries.append(entry)
            return
        entry["status"] = answer.status_code
        self.deliveries.append(entry)
        if answer.status_code != 200:
            entry["error"] = answer.text[:200]
            self.errors.append(entry)

    def summary(self) -> dict[str, Any]:
        return {
            **self.settings.model_dump(),
            "sent": len(self.deliveries),
            "errors": len(self.errors),
        }
