"""Ringostat call-log client: reads ``GET /calls/list`` completely for a time window.

Vendor quirks handled here (Ringostat's API documentation and help centre):

- **6,500 rows per answer, cut silently.** An answer holding ``max_rows_per_request`` rows may be
  incomplete. Rows are asked for in ``calldate`` order, so its rows are kept and the window is
  read on from the second of its last row (that second may have been cut; its rows read twice
  are merged): ⌈rows ÷ cap⌉ + 1 requests a window. An answer out of order, or whose rows all
  share its first second, is not trusted that way: the window is cut in two whole-second halves
  ``[a, m]`` and ``[m + 1, b]`` read again, recursively (``calldate`` has one-second resolution,
  so nothing falls between them and the recursion always shrinks). One second holding the cap
  or more cannot be split: :class:`WindowTooDenseError` says so instead of looping.
- **Closed windows, wall-clock times.** ``from``/``to`` are inclusive and written as wall-clock
  time in ``ringostat.timezone`` without an offset. Consecutive windows share their boundary
  second and a window crossing a DST fall-back reads the repeated hour twice, so rows are
  deduplicated by ``uniqueid`` (rows without one, by their whole content); the last read wins,
  since it is the newest state of the call.
- **JSON or CSV.** ``export_type=json`` answers an array of objects mixing strings and numbers,
  ``csv`` a ``;`` separated table; both are returned in one canonical form: every value a string,
  ``""`` for null (see :mod:`tasks.ringostat.wire`).
- **Answers are validated before they count.** Only a JSON array of objects (``[]`` included)
  or a CSV table with its header line is a call list. An empty 200, an object, ``null``, HTML
  (a proxy's or a maintenance page) is a :class:`RetriableError`, retried like a 5xx and then
  raised: taking it for "no calls" would move the cursor past calls never read.
- **Errors.** 401/403/``incorrect field``/errors inside a 200 body are mapped by
  :func:`tasks.ringostat.errors.classify`; 408/429/5xx, timeouts and dropped connections are
  retried here (``ringostat.max_retries``, exponential backoff with equal jitter, ``Retry-After``
  as a floor: :class:`tasks.vendor.backoff.Backoff`) through the injected ``sleep``; nothing
  above this layer retries a single request.
- **The key is a header.** ``Auth-key`` travels only in the header, never in the URL, and is
  never logged; vendor error text is scrubbed of it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import anyio
import httpx

from models.settings import RingostatSettings
from tasks.ringostat.errors import (
    RetriableError,
    WindowTooDenseError,
    classify,
)
from tasks.ringostat.wire import (
    WireFormatError,
    canonical_row,
    format_wall,
    parse_csv_rows,
    parse_json_rows,
    parse_wall,
    require_aware,
    wall_span,
)
from tasks.vendor.backoff import Backoff, Sleep

logger = logging.getLogger(__name__)

CALL_FIELDS: tuple[str, ...] = (
    "uniqueid",
    "calldate",
    "call_type",
    "disposition",
    "caller",
    "caller_number",
    "dst",
    "connected_with",
    "employee_number",
    "employee_fio",
    "duration",
    "billsec",
    "recording",
    "recording_wav",
    "has_recording",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "client_id",
    "landing",
    "refferrer",
    "call_card",
    "department",
)
"""The fields callsync reads (SPEC section 2); ``refferrer`` is Ringostat's own spelling."""

ExportType = Literal["json", "csv"]
Row = dict[str, Any]


def _dedupe_key(row: Row) -> tuple[str, ...]:
    uniqueid = str(row.get("uniqueid") or "").strip()
    if uniqueid:
        return ("uniqueid", uniqueid)
    # No id to merge on: only a byte-identical re-read of the same row is the same row.
    return ("content", *sorted(f"{k}={v}" for k, v in row.items()))


def _fresh(rows: Sequence[Row], seen: Mapping[tuple[str, ...], Row]) -> list[Row]:
    """``rows`` in canonical form, without those already read identically (``seen``); within
    the answer itself, a row repeated keeps its last copy."""
    page: dict[tuple[str, ...], Row] = {}
    for raw in rows:
        row = canonical_row(raw)
        key = _dedupe_key(row)
        if seen.get(key) == row:
            continue
        page.pop(key, None)
        page[key] = row
    return list(page.values())


def _wall_or_none(row: Row) -> int | None:
    try:
        return parse_wall(str(row.get("calldate") or ""))
    except ValueError:
        return None


def _continue_from(rows: Sequence[Row]) -> int | None:
    """The wall second of a full answer's last row, if the answer is in ``calldate`` order
    (as asked); None when it is not. Rows whose ``calldate`` is not Ringostat's usual text
    (quarantined later) are left out of the check: the server placed them by its own reading."""
    previous: int | None = None
    for row in rows:
        try:
            second = parse_wall(str(row.get("calldate") or ""))
        except ValueError:
            continue
        if previous is not None and second < previous:
            return None
        previous = second
    return previous


class RingostatClient:
    """Reads the call log of one Ringostat project. ``http`` is owned by the caller."""

    def __init__(
        self,
        settings: RingostatSettings,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = anyio.sleep,
        rng: random.Random | None = None,
        fields: Sequence[str] = CALL_FIELDS,
        export_type: ExportType = "json",
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._http = http
        self._backoff = Backoff(
            backoff_base_s,
            backoff_max_s,
            jitter="equal",  # Ringostat fails by being slow: never retry at once
            sleep=sleep,
            rng=rng if rng is not None else random.Random(),
        )
        self._fields = tuple(fields)
        self._export_type: ExportType = export_type
        self._zone = ZoneInfo(settings.timezone)
        self._url = settings.base_url.rstrip("/") + "/calls/list"
        self.requests_made = 0
        """HTTP requests sent so far, retries included (for run statistics)."""

    async def fetch_window(self, start: datetime, end: datetime) -> list[Row]:
        """Every call with ``start <= calldate <= end``, each once, newest read winning (all of
        :meth:`pages` in one list: for windows known to be small)."""
        merged: dict[tuple[str, ...], Row] = {}
        async for page in self.pages(start, end):
            for row in page:
                key = _dedupe_key(row)
                merged.pop(key, None)  # re-insert: the dict keeps the order of the last read
                merged[key] = row
        return list(merged.values())

    async def pages(self, start: datetime, end: datetime) -> AsyncIterator[list[Row]]:
        """The calls with ``start <= calldate <= end``, one answer at a time (at most
        ``max_rows_per_request`` rows each), in ``calldate`` order as far as Ringostat keeps it.

        ``start``/``end`` must be aware; they are written on the wire as wall-clock time in
        ``ringostat.timezone``, floored to the second. Rows come back in canonical text form. A
        row read again at the second where a full answer is continued is left out when it is the
        same as before (it is yielded again, as its newest state, when it changed).
        """
        require_aware(start, "start")
        require_aware(end, "end")
        if end.astimezone(UTC) < start.astimezone(UTC):
            raise ValueError(
                f"window end {end.isoformat()} is before its start {start.isoformat()}"
            )
        lo, hi = wall_span(start, end, self._zone)
        requests_before = self.requests_made
        rows_read = 0
        tail: dict[tuple[str, ...], Row] = {}
        """Rows of the second the previous full answer is continued from."""
        pending = [(lo, hi)]
        while pending:
            a, b = pending.pop()
            rows = await self._read(a, b)
            if len(rows) >= self._settings.max_rows_per_request:
                if a >= b:
                    raise WindowTooDenseError(
                        f"Ringostat returned {len(rows)} calls for the single second "
                        f"{format_wall(a)} ({self._settings.timezone}), the per-request cap "
                        f"(ringostat.max_rows_per_request = {self._settings.max_rows_per_request}). "
                        "The API cannot be asked for less than one second, so calls of that "
                        "second may be missing; ask Ringostat support for an export of it."
                    )
                last = _continue_from(rows)
                if last is not None and a < last <= b:
                    # Ordered by calldate: every second before the last row's is complete, the
                    # last one may be cut. Keep the rows, read on from that second.
                    page = _fresh(rows, tail)
                    tail = {_dedupe_key(r): r for r in page if _wall_or_none(r) == last} | {
                        k: v for k, v in tail.items() if _wall_or_none(v) == last
                    }
                    rows_read += len(page)
                    yield page
                    pending.append((last, b))
                    continue
                mid = (a + b) // 2
                logger.debug(
                    "Ringostat window %s..%s is full (%d rows): splitting",
                    format_wall(a),
                    format_wall(b),
                    len(rows),
                )
                # Stack order: the earlier half is read first.
                pending.append((mid + 1, b))
                pending.append((a, mid))
                continue
            page = _fresh(rows, tail)
            tail = {}
            rows_read += len(page)
            if page:
                yield page
        logger.info(
            "Read %d calls from Ringostat for %s..%s (%s) in %d requests",
            rows_read,
            format_wall(lo),
            format_wall(hi),
            self._settings.timezone,
            self.requests_made - requests_before,
        )

    async def _read(self, a: int, b: int) -> list[Row]:
        """One window, one logical request: retried on transient failures, parsed (values as
        sent; only the rows that are kept are made canonical)."""
        params = {
            "from": format_wall(a),
            "to": format_wall(b),
            "fields": ",".join(self._fields),
            "order": "calldate asc",
            "export_type": self._export_type,
        }
        attempt = 0
        while True:
            try:
                return await self._request(params)
            except RetriableError as exc:
                if attempt >= self._settings.max_retries:
                    raise
                await self._backoff.pause(
                    attempt,
                    why=f"Ringostat request failed ({exc.message})",
                    retries=self._settings.max_retries,
                    at_least=exc.retry_after,
                )
                attempt += 1

    async def _request(self, params: dict[str, str]) -> list[Row]:
        secret = self._settings.auth_key.get_secret_value()
        self.requests_made += 1
        try:
            response = await self._http.get(
                self._url,
                params=params,
                headers={"Auth-key": secret, "Accept": "application/json, text/csv"},
                timeout=self._settings.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise RetriableError(
                f"Ringostat at {self._settings.base_url} did not answer in time "
                f"({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise RetriableError(
                f"connection to Ringostat at {self._settings.base_url} failed "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        error = classify(response, secrets=(secret,))
        if error is not None:
            raise error
        try:
            if self._export_type == "csv":
                return parse_csv_rows(response.text)
            return parse_json_rows(response.text)
        except WireFormatError as exc:
            wanted = (
                "a ';' separated table with a header line"
                if self._export_type == "csv"
                else "a JSON array of calls"
            )
            raise RetriableError(
                f"Ringostat answered HTTP {response.status_code} with {exc}, not {wanted}: "
                "the run stops and the cursor stays, so the next run reads this window again",
                status_code=response.status_code,
            ) from exc
