"""What a run tells the operator in the Prefect UI: its name, its summary, whether it was retried.

Prefect names a run with two random words (``smart-beaver``) and a summary artifact written
straight from the run's data reads like a log (a UTC timestamp with microseconds, a Python dict
of writes). Here, from the run's summary (the dict every sync and backfill returns) and the
company's time zone:

- :func:`name_run` — ``sync 17:45 · 3 new calls`` (``· 2 rejected``, ``· stopped: credits
  spent``, ``· attempt 2`` when it applies), set at the end of the run with :func:`alabel_run`
  (async flows) or :func:`label_run`, and for a failed run by the hook :func:`label_failed_run`,
  which also tags a run that needed a retry (Prefect's run count above 1) ``retried``: it stays
  visible as such after it completed;
- :func:`summary_rows` / :func:`summary_markdown` — the summary as a table and as Markdown
  tables, in local time; :func:`publish_summary` publishes both as the run's artifacts.

The functions that build text are pure (no Prefect); the two that talk to Prefect import it when
called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flows.cli.render import GX_OFFLINE_NOTE, ROW_NAMES

RETRIED_TAG = "retried"
SUMMARY_TABLE_KEY = "callsync-sync-summary"
SUMMARY_REPORT_KEY = "callsync-sync-report"
LIST_LIMIT = 50
"""Quarantined calls, rejections and changed calls listed one by one in the report, at most."""

Row = dict[str, str]


def _local(value: str | datetime, tz: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment.astimezone(tz)


def local_time(value: str | datetime, tz: str) -> str:
    """``2026-03-02 14:05`` in ``tz`` (no seconds, no microseconds, no offset)."""
    return f"{_local(value, ZoneInfo(tz)):%Y-%m-%d %H:%M}"


def local_window(start: str | datetime, end: str | datetime, tz: str) -> str:
    """``2026-03-02 12:00 → 14:05`` (the end's date only when it is another day)."""
    zone = ZoneInfo(tz)
    first, last = _local(start, zone), _local(end, zone)
    shown = f"{last:%H:%M}" if last.date() == first.date() else f"{last:%Y-%m-%d %H:%M}"
    return f"{first:%Y-%m-%d %H:%M} → {shown}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _written(writes: Mapping[str, int]) -> int:
    return sum(n for key, n in writes.items() if key.endswith("/success"))


def name_run(
    kind: str,
    summary: Mapping[str, Any],
    *,
    started_at: datetime,
    tz: str,
    attempt: int = 1,
) -> str:
    """The run's name: what it did, at the local time it started.

    ``sync 17:45 · 3 new calls``; ``sync 17:46 · no new calls``; ``backfill 02:30 · 03-01 →
    03-03 · 120 new calls · 2 rejected``; ``sync 17:47 · another run holds the store``.
    ``attempt`` is Prefect's run count: from 2 on the name says so.
    """
    parts = [f"{kind} {_local(started_at, ZoneInfo(tz)):%H:%M}"]
    if summary.get("lease_held"):
        parts.append("another run holds the store")
    else:
        if kind != "sync" and summary.get("window_start") and summary.get("window_end"):
            zone = ZoneInfo(tz)
            first = _local(summary["window_start"], zone)
            last = _local(summary["window_end"], zone)
            parts.append(f"{first:%m-%d} → {last:%m-%d}")
        new = int(summary.get("new_calls") or 0)
        parts.append(_plural(new, "new call") if new else "no new calls")
        if summary.get("dry_run"):
            parts.append("dry run")
        rejected = len(summary.get("failures") or [])
        if rejected:
            parts.append(f"{rejected} rejected")
        quarantined = len(summary.get("quarantined") or [])
        if quarantined:
            parts.append(f"{quarantined} quarantined")
        stopped = str(summary.get("stopped") or "")
        if stopped:
            parts.append("stopped: credits spent" if "credits" in stopped else "stopped")
    if attempt > 1:
        parts.append(f"attempt {attempt}")
    return " · ".join(parts)


def _write_label(key: str) -> str:
    module, _, rest = key.partition("/")
    op, _, state = rest.partition("/")
    return f"{module} {op}: {state}" if state else key


def summary_rows(summary: Mapping[str, Any], tz: str) -> list[Row]:
    """The run's summary as one table (``section``, ``item``, ``count``) for a table artifact."""
    rows: list[Row] = []

    def add(section: str, item: str, count: object) -> None:
        rows.append({"section": section, "item": item, "count": str(count)})

    if summary.get("window_start") and summary.get("window_end"):
        add("window", f"{local_window(summary['window_start'], summary['window_end'], tz)}", tz)
    add("calls", "rows read", summary.get("rows_read", 0))
    add("calls", "new", summary.get("new_calls", 0))
    add("calls", "changed", summary.get("changed_calls", 0))
    for status, count in sorted((summary.get("by_status") or {}).items()):
        add("status", status, count)
    for reason, count in sorted((summary.get("by_reason") or {}).items()):
        add("reason", reason, count)
    for row, count in sorted((summary.get("by_row") or {}).items(), key=lambda kv: int(kv[0])):
        add("scenario row", f"{row} {ROW_NAMES.get(str(row), '')}".strip(), count)
    for key, count in sorted((summary.get("writes") or {}).items()):
        add("Zoho writes", _write_label(key), count)
    add("Zoho API", "requests", summary.get("zoho_requests", 0))
    add("Zoho API", "credits", summary.get("zoho_credits", 0))
    add("problems", "quarantined", len(summary.get("quarantined") or []))
    add("problems", "rejected by Zoho", len(summary.get("failures") or []))
    if summary.get("changed_after_sync"):
        add("problems", "changed after sync", len(summary["changed_after_sync"]))
    if summary.get("stopped"):
        add("problems", f"stopped: {summary['stopped']}", 1)
    return rows


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def summary_markdown(summary: Mapping[str, Any], tz: str, *, kind: str = "sync") -> str:
    """The run's report in Markdown: a heading in local time, then tables, then the lists."""
    title = kind.capitalize()
    if summary.get("window_start") and summary.get("window_end"):
        title += f" {local_window(summary['window_start'], summary['window_end'], tz)} ({tz})"
    lines = [f"# {title}", ""]
    if summary.get("stopped"):
        lines += [f"**Stopped:** {summary['stopped']}", ""]
    lines += _table(
        ("calls", "count"),
        [
            ("rows read", summary.get("rows_read", 0)),
            ("new", summary.get("new_calls", 0)),
            ("changed", summary.get("changed_calls", 0)),
            ("quarantined", len(summary.get("quarantined") or [])),
            ("rejected by Zoho", len(summary.get("failures") or [])),
        ],
    )
    sections = (
        ("status", summary.get("by_status") or {}, str),
        ("reason", summary.get("by_reason") or {}, str),
        ("scenario row", summary.get("by_row") or {}, lambda k: f"{k} {ROW_NAMES.get(k, '')}"),
        ("Zoho writes", summary.get("writes") or {}, _write_label),
    )
    for header, counts, label in sections:
        if counts:
            ordered = sorted(counts.items(), key=lambda kv: (len(kv[0]), kv[0]))
            lines += ["", *_table((header, "count"), [(label(k), v) for k, v in ordered])]
    requests, credits = summary.get("zoho_requests", 0), summary.get("zoho_credits", 0)
    lines += ["", f"Zoho API: {requests} requests, {credits} credits."]
    failures = summary.get("failures") or []
    if failures:
        lines += ["", *_table(("rejected", "code", "message"), [
            (f["sync_key"], f["code"], f["message"]) for f in failures[:LIST_LIMIT]
        ])]  # fmt: skip
    quarantined = summary.get("quarantined") or []
    if quarantined:
        lines += ["", *_table(("quarantined call", "reason"), [
            (q["uniqueid"], q["reason"]) for q in quarantined[:LIST_LIMIT]
        ])]  # fmt: skip
    changed = summary.get("changed_after_sync") or []
    if changed:
        lines += ["", *_table(("changed after sync (Zoho records kept)", "fields"), [
            (c["uniqueid"], c["fields"]) for c in changed[:LIST_LIMIT]
        ])]  # fmt: skip
    for problem in summary.get("employee_problems") or []:
        lines += ["", f"- employee map: {problem}"]
    for step, error in sorted((summary.get("deferred_steps") or {}).items()):
        lines += ["", f"- {step} failed after the writes (the next run does it again): {error}"]
    if summary.get("data_docs"):
        lines += [
            "",
            f"Great Expectations Data Docs: `{summary['data_docs']}` ({GX_OFFLINE_NOTE}).",
        ]
    if summary.get("duckdb_path"):
        lines += ["", f"DuckDB reports: `{summary['duckdb_path']}`."]
    return "\n".join(lines) + "\n"


async def publish_summary(summary: Mapping[str, Any], tz: str, *, kind: str = "sync") -> None:
    """The run's two artifacts: the table and the Markdown report (keys as before)."""
    from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

    title = kind.capitalize()
    if summary.get("window_start") and summary.get("window_end"):
        title += f" {local_window(summary['window_start'], summary['window_end'], tz)} ({tz})"
    await acreate_table_artifact(
        key=SUMMARY_TABLE_KEY,
        table=summary_rows(summary, tz),
        description=f"{title}: calls by status, reason and scenario row; writes; API use",
    )
    await acreate_markdown_artifact(
        key=SUMMARY_REPORT_KEY, markdown=summary_markdown(summary, tz, kind=kind)
    )


def _run_identity(flow_run_id: str | None, run_count: int | None) -> tuple[str, int]:
    from prefect import runtime

    run_id = flow_run_id or runtime.flow_run.id
    if run_id is None:
        raise RuntimeError("label_run outside a flow run needs flow_run_id")
    attempt = int(runtime.flow_run.run_count if run_count is None else run_count) or 1
    return str(run_id), attempt


def _tags(current: Iterable[str], attempt: int) -> list[str]:
    tags = list(current)
    if attempt > 1 and RETRIED_TAG not in tags:
        tags.append(RETRIED_TAG)
    return tags


async def alabel_run(
    kind: str,
    summary: Mapping[str, Any],
    *,
    started_at: datetime,
    tz: str,
    flow_run_id: str | None = None,
    run_count: int | None = None,
) -> str:
    """Name the current (or ``flow_run_id``'s) flow run after what it did; tag it ``retried``
    when Prefect ran it more than once (its run count). Returns the name. For async flows."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    run_id, attempt = _run_identity(flow_run_id, run_count)
    name = name_run(kind, summary, started_at=started_at, tz=tz, attempt=attempt)
    async with get_client() as client:
        current = await client.read_flow_run(UUID(run_id))
        await client.update_flow_run(UUID(run_id), name=name, tags=_tags(current.tags, attempt))
    return name


def label_run(
    kind: str,
    summary: Mapping[str, Any],
    *,
    started_at: datetime,
    tz: str,
    flow_run_id: str | None = None,
    run_count: int | None = None,
) -> str:
    """:func:`alabel_run` for sync flows (and hooks)."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    run_id, attempt = _run_identity(flow_run_id, run_count)
    name = name_run(kind, summary, started_at=started_at, tz=tz, attempt=attempt)
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(UUID(run_id))
        client.update_flow_run(UUID(run_id), name=name, tags=_tags(current.tags, attempt))
    return name


def _flow_kind(flow_name: str) -> str:
    """``callsync-sync`` and ``callsync-serve-sync`` → ``sync``."""
    return flow_name.removeprefix("callsync-").removeprefix("serve-")


def name_failed_run(
    kind: str, *, started_at: datetime, tz: str, message: str, attempt: int = 1
) -> str:
    """``sync 17:45 · failed: Zoho refused the refresh token`` (the state message's first
    line, without Prefect's "Flow run encountered an exception" preamble)."""
    reason = (message or "").strip().splitlines()[0] if (message or "").strip() else "no message"
    reason = reason.removeprefix("Flow run encountered an exception: ")
    if len(reason) > 80:
        reason = reason[:79] + "…"
    parts = [f"{kind} {_local(started_at, ZoneInfo(tz)):%H:%M}", f"failed: {reason}"]
    if attempt > 1:
        parts.append(f"attempt {attempt}")
    return " · ".join(parts)


def _run_timezone(parameters: Mapping[str, Any]) -> str:
    """The company's time zone from the run's ``config`` parameter; UTC when it cannot be read
    (the hook must not fail because the config is what failed)."""
    try:
        from models.settings import load_settings

        return load_settings(parameters.get("config")).scenario.company_timezone
    except Exception:
        return "UTC"


def label_failed_run(flow: Any, flow_run: Any, state: Any) -> None:
    """A Prefect ``on_failure`` / ``on_crashed`` hook: the failed run's name says why, and a run
    that failed after a retry is tagged ``retried``."""
    from prefect.client.orchestration import get_client

    attempt = int(getattr(flow_run, "run_count", 1) or 1)
    started = getattr(flow_run, "start_time", None) or getattr(state, "timestamp", None)
    if started is None:
        return
    name = name_failed_run(
        _flow_kind(str(flow.name)),
        started_at=started,
        tz=_run_timezone(getattr(flow_run, "parameters", None) or {}),
        message=str(getattr(state, "message", "") or ""),
        attempt=attempt,
    )
    with get_client(sync_client=True) as client:
        client.update_flow_run(
            flow_run.id, name=name, tags=_tags(getattr(flow_run, "tags", None) or [], attempt)
        )
