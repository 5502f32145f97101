"""``callsync backfill`` says what it is about to do before it writes anything permanent.

A backfill reads a past range of the call log and writes to Zoho whatever each call is due:
leads, tasks and call-backs that people will work on, and that callsync never deletes. So before
Prefect starts:

- the range is checked: a start before :data:`EARLIEST` (no call log reaches that far: a typo)
  or more windows than :data:`MAX_WINDOWS` is refused in one line that says what to change;
- the plan is shown: the range in the call log's time zone, its length, the number of windows;
  and, when ``[[employees]]`` is empty, that every answered call's records go to the TOP manager;
- a range over :data:`ASK_DAYS` days, or any range with no employee map, asks before it goes on
  (``--yes`` answers for the operator; without a terminal the question is answered "no");
- a range over :data:`YES_DAYS` days needs ``--yes`` in any case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flows.cli.preflight import check_window
from models.settings import Settings
from tasks.timeparse import parse_when

EARLIEST = date(2000, 1, 1)
MAX_WINDOWS = 20_000
ASK_DAYS = 7
YES_DAYS = 400


class BackfillRefused(ValueError):
    """The range is absurd or needs ``--yes``; the message says what to change."""


@dataclass(frozen=True)
class BackfillPlan:
    start: datetime
    end: datetime
    window_hours: float
    timezone: str
    employees: int
    top_manager: str

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def windows(self) -> int:
        return math.ceil((self.end - self.start) / timedelta(hours=self.window_hours))

    @property
    def needs_yes(self) -> bool:
        return self.days > YES_DAYS

    @property
    def asks(self) -> bool:
        return self.days > ASK_DAYS or self.employees == 0

    def describe(self) -> list[str]:
        zone = ZoneInfo(self.timezone)
        first, last = self.start.astimezone(zone), self.end.astimezone(zone)
        lines = [
            f"backfill {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} {self.timezone} "
            f"({self.days:,.1f} days) in {self.windows:,} windows of {self.window_hours:g} h",
            "  reads that part of Ringostat's call log and writes to Zoho what each call is due "
            "(leads, tasks, call-backs: permanent records); calls already written are not "
            "written again",
        ]
        if self.employees == 0:
            lines.append(
                "  no [[employees]] entries: every answered call's lead and task goes to the TOP "
                f"manager {self.top_manager} (check with `callsync doctor`)"
            )
        return lines


def plan_backfill(
    settings: Settings,
    date_from: str,
    date_to: str | None,
    window_hours: float,
    *,
    now: datetime,
) -> BackfillPlan:
    """The range ``--from``/``--to`` make (naive times in the call log's zone), checked."""
    tz = settings.ringostat.timezone
    check_window(date_from, date_to, tz, now=now)
    start = parse_when(date_from, tz)
    end = min(parse_when(date_to, tz, end=True), now) if date_to else now
    if start.astimezone(ZoneInfo(tz)).date() < EARLIEST:
        raise BackfillRefused(
            f"--from {date_from} is before {EARLIEST}: no call log goes back that far "
            "(a typo in the year?)"
        )
    plan = BackfillPlan(
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        window_hours=window_hours,
        timezone=tz,
        employees=len(settings.employees),
        top_manager=settings.scenario.top_manager,
    )
    if plan.windows > MAX_WINDOWS:
        wider = math.ceil((end - start) / timedelta(hours=1) / MAX_WINDOWS)
        raise BackfillRefused(
            f"{plan.windows:,} windows of {window_hours:g} h is too many (at most "
            f"{MAX_WINDOWS:,}): give --window-hours {wider} or more, or a shorter range"
        )
    return plan


def refuse_without_yes(plan: BackfillPlan, *, yes: bool) -> None:
    """A range over :data:`YES_DAYS` days goes ahead only with ``--yes``."""
    if plan.needs_yes and not yes:
        raise BackfillRefused(
            f"a backfill of {plan.days:,.0f} days (over {YES_DAYS}) needs --yes: check the "
            "range, then add --yes"
        )
