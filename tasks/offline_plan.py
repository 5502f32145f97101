"""The offline dry run behind ``callsync plan --calls CALLS.json --crm CRM.json``.

Reads Ringostat call rows (a JSON array, Ringostat's field names) and a CRM snapshot
(``{"users": [...], "Leads": [...], "Contacts": [...], "Deals": [...]}`` in Zoho's own record
shapes, every key optional), plans every call exactly as a sync run would, and returns one
JSON-ready object per input row, in input order. Nothing is written anywhere.

``now`` (for the enrich modes' grace period) defaults to the latest call end of the file, so the
same files always give the same plan. A malformed file raises :class:`InputError`, whose message
is one line naming the file and the problem. :class:`tasks.scenario.TopManagerError` passes
through unchanged when the snapshot lacks an active TOP manager.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from models.call import Call
from models.crm import CrmRecord, CrmSnapshot, ZohoUser
from models.plan import CallPlan
from models.settings import Settings
from tasks.calls import parse_each
from tasks.crm_records import RecordShapeError, record_from_zoho, user_from_zoho
from tasks.employees import EmployeeMap
from tasks.scenario import plan_calls

CRM_KEYS = ("users", "Leads", "Contacts", "Deals")


class InputError(ValueError):
    """An input file cannot be used; ``str()`` is one line naming the file and the problem."""


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def read_calls(path: Path) -> list[Mapping[str, Any]]:
    data = _load_json(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON array of Ringostat call rows")
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise InputError(f"{path}: item {index} is not a JSON object (a call row)")
    return data


def read_crm(path: Path, settings: Settings) -> tuple[list[ZohoUser], list[CrmRecord]]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with keys {', '.join(CRM_KEYS)}")
    unknown = sorted(set(data) - set(CRM_KEYS))
    if unknown:
        raise InputError(
            f"{path}: unknown key(s) {', '.join(unknown)} (expected {', '.join(CRM_KEYS)})"
        )
    for key in CRM_KEYS:
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InputError(f"{path}: '{key}' must be a JSON array of objects")
    users: list[ZohoUser] = []
    records: list[CrmRecord] = []
    try:
        for index, item in enumerate(data.get("users", [])):
            where = f"users[{index}]"
            users.append(user_from_zoho(item))
        for module in ("Leads", "Contacts", "Deals"):
            for index, item in enumerate(data.get(module, [])):
                where = f"{module}[{index}]"
                records.append(record_from_zoho(module, item, settings.scenario))
    except RecordShapeError as exc:
        raise InputError(f"{path}: {where}: {exc}") from None
    return users, records


def plan_files(
    calls_path: Path,
    crm_path: Path,
    settings: Settings,
    *,
    now: datetime | None = None,
    problems: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Plan the calls of ``calls_path`` against ``crm_path``: one JSON object per input row.

    ``problems``, when given, receives the employee map's problems (an ``[[employees]]`` entry
    naming no active Zoho user of the snapshot, ...), which a run summary would report.
    """
    rows = read_calls(calls_path)
    users, records = read_crm(crm_path, settings)
    crm = CrmSnapshot.build(users, records)
    employees = EmployeeMap.build(settings.employees, users, settings.scenario)
    if problems is not None:
        problems.extend(employees.problems)

    results = parse_each(rows, settings)
    calls = [r for r in results if isinstance(r, Call)]
    plans: dict[str, CallPlan] = {}
    if calls:
        when = now if now is not None else max(call.ended_at for call in calls)
        plans = {p.uniqueid: p for p in plan_calls(calls, crm, employees, settings, now=when)}

    out: list[dict[str, Any]] = []
    for result in results:
        if isinstance(result, Call):
            out.append(plans[result.uniqueid].to_json())
        else:
            out.append(
                {
                    "uniqueid": result.uniqueid,
                    "row": None,
                    "status": result.status,
                    "reason": result.reason,
                    "writes": [],
                }
            )
    return out
