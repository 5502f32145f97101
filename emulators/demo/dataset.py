"""A whole demo company in one deterministic call: CRM seed, employee map and the call log.

``generate_demo(seed=7)`` always gives the same dataset (it never reads the wall clock). The
call log comes in phases, each the rows to post to the Ringostat emulator
(``POST /__emulator__/calls``) at ``phase_times[i]``: phase 0 is what the log shows at the first
read, later phases hold new calls plus updates of earlier ones (calls that were ringing or
talking and are now final, recordings that appeared late). ``final_calls`` is every row in its
last state.

The mix (loosely, per ``calls_per_day``): about 18% outbound calls (some to CRM clients, some to
new numbers, caller a SIP identity), 5% website call-backs, ~20% of client calls missed (several
dispositions, some spelled with ``+``/``_``), a few voicemails, PROPER/REPEATED dispositions on
answered calls, repeat callers, calls answered by unmapped SIP accounts, calls from the company's
own numbers, transit calls, a look-alike foreign number (same last nine digits as a CRM client,
other country), and a few malformed rows (no ``uniqueid``, a bad ``calldate``, an unknown
disposition, anonymous / empty / SIP-only / short client numbers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from emulators.demo.calls import MALFORMED_KINDS, CallFactory, CallPlan
from emulators.demo.crm import make_crm
from emulators.demo.people import IdSource, NumberPool, employee_entries, make_company

DEFAULT_START = date(2025, 3, 28)
"""A fixed first day (never the wall clock). With the default three days the data crosses the
spring DST change in Kyiv (2025-03-30): calls on the last day are UTC+3, the others UTC+2."""
SNAPSHOT_TIME = time(18, 0)
FINAL_TIME = time(9, 0)


@dataclass(frozen=True)
class DemoDataset:
    """Everything the demo needs; see the module docstring for the meaning of the phases."""

    seed: int
    start: date
    days: int
    timezone: str
    zoho_seed: dict[str, Any]
    """Body of the Zoho emulator's ``POST /__emulator__/seed``: users, roles, Leads, Contacts,
    Deals in Zoho's record shapes, with ids."""
    employees: list[dict[str, Any]]
    """``[[employees]]`` config entries: zoho_user (email), sip, numbers, ringostat_ids."""
    top_manager: str
    """Email of the TOP manager (a Zoho user with the CEO role)."""
    company_numbers: list[str]
    """The company's tracking lines, E.164."""
    phases: list[list[dict[str, Any]]]
    phase_times: list[datetime]
    """The moment (aware) whose call-log state phase ``i`` brings the emulator to."""
    final_calls: list[dict[str, Any]]
    unmapped_sips: list[str]
    """SIP accounts that answer some calls but are in no employee entry."""

    def config_overrides(self) -> dict[str, Any]:
        """The config sections this dataset implies (merge into the demo's TOML)."""
        return {
            "ringostat": {"timezone": self.timezone},
            "scenario": {
                "top_manager": self.top_manager,
                "company_numbers": list(self.company_numbers),
                "company_timezone": self.timezone,
            },
            "employees": [dict(e) for e in self.employees],
        }


def start_before(now: datetime, days: int, timezone: str) -> date:
    """The first day of a ``days``-day dataset whose calls are all over by ``now``: the
    dataset's last moment (the day after its last day, at 09:00 local) is not later than
    ``now``. For emulators serving "today's" data (``callsync emulate``)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(timezone))
    last_day = local.date() - timedelta(days=1 if local.time() >= FINAL_TIME else 2)
    return last_day - timedelta(days=days - 1)


def generate_demo(
    seed: int = 7,
    days: int = 3,
    calls_per_day: int = 400,
    start: date | None = None,
    timezone: str = "Europe/Kyiv",
) -> DemoDataset:
    """Generate the demo company and its calls; the same arguments give the same dataset."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if calls_per_day < 10:
        raise ValueError(f"calls_per_day must be at least 10, got {calls_per_day}")
    first_day = start or DEFAULT_START
    zone = ZoneInfo(timezone)
    rng = random.Random(seed)
    ids, numbers = IdSource(), NumberPool(rng)
    company = make_company(rng, ids, numbers, timezone)
    crm = make_crm(
        rng,
        ids,
        numbers,
        company,
        client_count=max(30, round(days * calls_per_day * 0.12)),
        before=datetime.combine(first_day, time(0), tzinfo=zone),
        timezone=timezone,
    )
    factory = CallFactory(rng=rng, company=company, crm=crm, numbers=numbers, zone=zone)
    day_list = [first_day + timedelta(days=k) for k in range(days)]
    snapshots = [datetime.combine(d, SNAPSHOT_TIME, tzinfo=zone) for d in day_list]
    final_time = datetime.combine(first_day + timedelta(days=days), FINAL_TIME, tzinfo=zone)

    malformed_seen = 0
    for k, day in enumerate(day_list):
        before = len(factory.plans)
        malformed_n = min(max(3, round(calls_per_day * 0.01)), calls_per_day // 4)
        for _ in range(malformed_n):
            factory.malformed(day, MALFORMED_KINDS[malformed_seen % len(MALFORMED_KINDS)])
            malformed_seen += 1
        if k == 0 and crm.foreign_twin is not None:
            _foreign_call(factory, day, crm.foreign_twin.national)
        while len(factory.plans) - before < calls_per_day:
            _regular_call(factory, day)
        factory.force_in_progress(factory.plans[before:], snapshots[k])
    factory.mark_repeats()
    for plan in factory.plans:
        _settle_by(plan, final_time)
    plans = sorted(factory.plans, key=lambda p: (p.start, p.index))

    times = [*snapshots, final_time]
    return DemoDataset(
        seed=seed,
        start=first_day,
        days=days,
        timezone=timezone,
        zoho_seed={
            "users": company.users,
            "roles": company.roles,
            "Leads": crm.leads,
            "Contacts": crm.contacts,
            "Deals": crm.deals,
        },
        employees=employee_entries(company),
        top_manager=company.top.email,
        company_numbers=[line.e164 for line in company.tracking_lines],
        phases=_phases(plans, times, zone),
        phase_times=times,
        final_calls=[_row(plan, final_time, zone) for plan in plans],
        unmapped_sips=sorted(
            {p.employee_sip for p in plans if p.employee is None and p.employee_sip}
        ),
    )


def _regular_call(factory: CallFactory, day: date) -> None:
    roll = factory.rng.random()
    if roll < 0.18:
        factory.outbound(day)
    elif roll < 0.23:
        factory.inbound(day, call_type="callback")
    elif roll < 0.24:
        factory.transit(day)
    elif roll < 0.25:
        factory.own_number(day)
    else:
        factory.inbound(day)


def _foreign_call(factory: CallFactory, day: date, national: str) -> None:
    """A Polish caller whose last nine digits equal a CRM client's Ukrainian number."""
    plan = factory.inbound(day)
    plan.fields.update({"caller": f"48{national}", "caller_number": f"48{national}"})
    plan.client_key = f"pl{national}"


def _settle_by(plan: CallPlan, moment: datetime) -> None:
    """Every call is over and has its recording by the last snapshot."""
    latest = moment - timedelta(minutes=1)
    if plan.end > latest:
        plan.start -= plan.end - latest
    if plan.recording_at > latest:
        plan.recording_delay = max(0, int((latest - plan.end).total_seconds()))


def _row(plan: CallPlan, moment: datetime, zone: ZoneInfo) -> dict[str, Any]:
    row = plan.row_at(moment, zone)
    if row is None:  # pragma: no cover - _settle_by guarantees it
        raise AssertionError(f"call {plan.index} has not started by {moment}")
    return row


def _phases(
    plans: list[CallPlan], times: list[datetime], zone: ZoneInfo
) -> list[list[dict[str, Any]]]:
    shown: dict[int, dict[str, Any]] = {}
    phases: list[list[dict[str, Any]]] = []
    for moment in times:
        changes: list[dict[str, Any]] = []
        for plan in plans:
            row = plan.row_at(moment, zone)
            if row is None or shown.get(plan.index) == row:
                continue
            shown[plan.index] = row
            changes.append(row)
        phases.append(changes)
    return phases
