"""A small fixed world for the scenario tests: users, employee map, CRM records, call rows.

Records and calls are built from Zoho and Ringostat wire shapes through the real converters
(``record_from_zoho``, ``parse_row``), so the tests exercise the same path a run does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from models.call import Call
from models.crm import CrmRecord, CrmSnapshot, ZohoUser
from models.hours import WorkingHours
from models.plan import CallPlan, PlannedWrite
from models.settings import ScenarioSettings, Settings
from tasks.calls import parse_row
from tasks.crm_records import record_from_zoho
from tasks.employees import EmployeeMap
from tasks.scenario import plan_calls

TOP = ZohoUser("u-top", "boss@example.com", "Olena Boss")
ANNA = ZohoUser("u-anna", "anna@example.com", "Anna Ivanova")  # E in the matrix
PETRO = ZohoUser("u-petro", "petro@example.com", "Petro Shevchenko")  # R in the matrix
GONE = ZohoUser("u-gone", "gone@example.com", "Former Manager", active=False)
USERS = (TOP, ANNA, PETRO, GONE)

EMPLOYEES = [
    {"zoho_user": "anna@example.com", "sip": ["anna_sip"], "ringostat_ids": ["201"]},
    {"zoho_user": "petro@example.com", "sip": ["petro_sip"], "ringostat_ids": ["202"]},
]

NEW = "+380501112233"  # no CRM record
KNOWN = "+380671112233"  # Lead L-1, owner Petro
NOW = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)
T0 = "2026-01-18 10:00:00"  # Kyiv, = 08:00 UTC
END = datetime(2026, 1, 18, 8, 1, 30, tzinfo=UTC)  # T0 + 90 s


def settings(employees: Sequence[dict[str, Any]] = EMPLOYEES, **scenario: Any) -> Settings:
    base: dict[str, Any] = {"top_manager": "boss@example.com", "company_numbers": ["+380441234567"]}
    return Settings(scenario={**base, **scenario}, employees=list(employees))


def row(
    uid: str = "c1",
    *,
    when: str = T0,
    direction: str = "in",
    disposition: str = "ANSWERED",
    client: str = NEW,
    employee: str | None = None,
    duration: int = 90,
    billsec: int = 75,
    **extra: Any,
) -> dict[str, Any]:
    """A Ringostat row. ``employee`` is ``connected_with`` inbound, the SIP login outbound."""
    data: dict[str, Any] = {
        "uniqueid": uid,
        "calldate": when,
        "call_type": direction,
        "disposition": disposition,
        "duration": duration,
        "billsec": billsec,
    }
    if direction == "out":
        data["dst"] = client
        data["caller"] = f'"Someone" <{employee}>' if employee else ""
    else:
        data["caller"] = client
        if employee:
            data["connected_with"] = employee
    data.update(extra)
    return data


def call(uid: str = "c1", config: Settings | None = None, **kw: Any) -> Call:
    result = parse_row(row(uid, **kw), config or settings())
    assert isinstance(result, Call), result
    return result


def record(module: str, rid: str, sc: ScenarioSettings | None = None, **fields: Any) -> CrmRecord:
    data: dict[str, Any] = {
        "id": rid,
        "Owner": {"id": fields.pop("owner", PETRO.id), "name": "x"},
        "Modified_Time": fields.pop("modified", "2026-01-10T10:00:00+02:00"),
        **fields,
    }
    return record_from_zoho(module, data, sc or ScenarioSettings())


def lead(rid: str = "L-1", phone: str = KNOWN, **fields: Any) -> CrmRecord:
    return record("Leads", rid, Last_Name="Known", Phone=phone, **fields)


def contact(rid: str = "C-1", phone: str = KNOWN, **fields: Any) -> CrmRecord:
    return record("Contacts", rid, Last_Name="Known", Phone=phone, **fields)


def deal(
    rid: str = "D-1", contact_id: str = "C-1", stage: str = "Qualification", **f: Any
) -> CrmRecord:
    return record("Deals", rid, Deal_Name="Deal", Stage=stage, Contact_Name={"id": contact_id}, **f)


def plan(
    calls: Sequence[Call],
    records: Sequence[CrmRecord] = (),
    config: Settings | None = None,
    *,
    now: datetime = NOW,
    users: Sequence[ZohoUser] = USERS,
    hours: WorkingHours | None = None,
    closed_stages: Iterable[str] | None = None,
) -> list[CallPlan]:
    """``hours``: Zoho's working hours; ``closed_stages``: the org's closed Deal stages."""
    cfg = config or settings()
    crm = CrmSnapshot.build(users, records, closed_stages=closed_stages)
    employees = EmployeeMap.build(cfg.employees, users, cfg.scenario)
    return plan_calls(calls, crm, employees, cfg, now=now, hours=hours)


def plan_one(
    c: Call, records: Sequence[CrmRecord] = (), config: Settings | None = None, **kw: Any
) -> CallPlan:
    plans = plan([c], records, config, **kw)
    assert len(plans) == 1
    return plans[0]


def by_key(p: CallPlan) -> dict[str, PlannedWrite]:
    return {w.sync_key: w for w in p.writes}
