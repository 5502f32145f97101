"""What a run did, as one typed value that adds up.

Every part of the pipeline returns a :class:`RunSummary` of what *it* did — a page ingested, a
chunk of calls planned and written, a batch of webhook events, one window of a backfill — and
the parts are added with ``+``: counts sum, lists concatenate, a check fails if any part failed,
the window spans every part. The run's summary is the sum; the command line prints it, the flow
publishes it, the store keeps it with the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

CHANGED_AFTER_SYNC = "changed_after_sync"
CREDITS_EXHAUSTED = "credits_exhausted"


def _sum(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def _first(a: str | None, b: str | None) -> str | None:
    return a if a else b


def _last(a: str | None, b: str | None) -> str | None:
    return b if b is not None else a


@dataclass
class RunSummary:
    """Counts and samples of one run (or one part of it). Add parts with ``+``."""

    run_id: str = ""
    window_start: str = ""
    window_end: str = ""
    rows_read: int = 0
    new_calls: int = 0
    changed_calls: int = 0
    processed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    by_row: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    """Zoho writes by ``<Module>/<op>/<state>`` (``Tasks/insert/success``, ...)."""
    failures: list[dict[str, str]] = field(default_factory=list)
    """Records Zoho rejected (or that could not be sent): uniqueid, sync key, code, message."""
    quarantined: list[dict[str, str]] = field(default_factory=list)
    recording_updates: int = 0
    without_uniqueid: int = 0
    """Rows read without a ``uniqueid`` (quarantined as ``missing_call_id``)."""
    changed_after_sync: list[dict[str, str]] = field(default_factory=list)
    """Synced calls Ringostat re-delivered with other content: ``uniqueid`` and ``fields``."""
    phone_suite_success: bool = True
    assignment_suite_success: bool = True
    zoho_requests: int = 0
    zoho_credits: int = 0
    ringostat_requests: int = 0
    data_docs: str | None = None
    duckdb_path: str | None = None
    dry_run: bool = False
    plans: list[dict[str, Any]] = field(default_factory=list)
    """``callsync plan``: each call's decision (only in a dry run)."""
    employee_problems: list[str] = field(default_factory=list)
    """The employee map's problems (an entry naming no active Zoho user, ...), every run."""
    webhook_events: dict[str, int] = field(default_factory=dict)
    """Webhook events finished by this run, by ``<event>/<status>/<outcome>``."""
    deferred_steps: dict[str, str] = field(default_factory=dict)
    """Steps after the writes that failed (DuckDB landing, Data Docs, artifacts): left to the
    next run, by name with the error."""
    stopped: str | None = None
    """Why the run stopped before its end (``credits_exhausted: ...``), else None."""

    def __add__(self, other: RunSummary) -> RunSummary:
        if not isinstance(other, RunSummary):
            return NotImplemented
        starts = [s for s in (self.window_start, other.window_start) if s]
        ends = [e for e in (self.window_end, other.window_end) if e]
        return RunSummary(
            run_id=self.run_id or other.run_id,
            window_start=min(starts) if starts else "",
            window_end=max(ends) if ends else "",
            rows_read=self.rows_read + other.rows_read,
            new_calls=self.new_calls + other.new_calls,
            changed_calls=self.changed_calls + other.changed_calls,
            processed=self.processed + other.processed,
            by_status=_sum(self.by_status, other.by_status),
            by_reason=_sum(self.by_reason, other.by_reason),
            by_row=_sum(self.by_row, other.by_row),
            writes=_sum(self.writes, other.writes),
            failures=[*self.failures, *other.failures],
            quarantined=[*self.quarantined, *other.quarantined],
            recording_updates=self.recording_updates + other.recording_updates,
            without_uniqueid=self.without_uniqueid + other.without_uniqueid,
            changed_after_sync=[*self.changed_after_sync, *other.changed_after_sync],
            phone_suite_success=self.phone_suite_success and other.phone_suite_success,
            assignment_suite_success=(
                self.assignment_suite_success and other.assignment_suite_success
            ),
            zoho_requests=self.zoho_requests + other.zoho_requests,
            zoho_credits=self.zoho_credits + other.zoho_credits,
            ringostat_requests=self.ringostat_requests + other.ringostat_requests,
            data_docs=_last(self.data_docs, other.data_docs),
            duckdb_path=_last(self.duckdb_path, other.duckdb_path),
            dry_run=self.dry_run or other.dry_run,
            plans=[*self.plans, *other.plans],
            employee_problems=list(
                dict.fromkeys([*self.employee_problems, *other.employee_problems])
            ),
            webhook_events=_sum(self.webhook_events, other.webhook_events),
            deferred_steps={**self.deferred_steps, **other.deferred_steps},
            stopped=_first(self.stopped, other.stopped),
        )

    @classmethod
    def total(cls, parts: Iterable[RunSummary]) -> RunSummary:
        out = cls()
        for part in parts:
            out = out + part
        return out

    def count(self, status: str | None = None, reason: str | None = None, by: int = 1) -> None:
        """Count ``by`` calls under a status and/or a reason."""
        if status is not None:
            self.by_status[status] = self.by_status.get(status, 0) + by
        if reason is not None:
            self.by_reason[reason] = self.by_reason.get(reason, 0) + by

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        """A summary from :meth:`to_dict` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def written(self) -> int:
        """Records Zoho holds because of this run (inserted or updated, duplicates included)."""
        return sum(n for key, n in self.writes.items() if key.endswith("/success"))
