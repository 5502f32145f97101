"""Per-record checks of insert, update and upsert, in the order Zoho reports them.

:func:`check_record` turns one item of ``{"data": [...]}`` into the values to store, or into the
per-record error Zoho would answer for it (the first problem found wins):

1. mandatory fields missing or emptied → ``MANDATORY_NOT_FOUND`` (``api_name``, ``json_path``);
2. each given field in turn: wrong JSON type or format → ``INVALID_DATA`` with
   ``expected_data_type``; too long → ``INVALID_DATA`` with ``maximum_length``; a value outside a
   restricted picklist, a lookup to a record that does not exist, an ``Owner`` that is not an
   active user → ``INVALID_DATA``.

Unknown field names and system (read-only) fields are ignored, as Zoho ignores them.
Uniqueness (``DUPLICATE_DATA``) needs the whole org and is checked by the caller.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from emulators.zoho.errors import MSG_BAD_ID, MSG_INVALID_DATA, MSG_MANDATORY, record_error
from emulators.zoho.org import FieldDef, ModuleDef
from emulators.zoho.state import Record, ZohoState

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DURATION = re.compile(r"^(\d{1,4}):([0-5]\d)$")
_TEXT_TYPES = frozenset({"text", "textarea", "email", "website", "phone"})


class RecordProblem(Exception):
    """Carries the per-record error item for one record."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(item["code"])
        self.item = item


def parse_datetime(value: str) -> datetime | None:
    """An ISO 8601 datetime *with* offset (Zoho rejects naive ones), else ``None``."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _is_date(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def duration_seconds(value: str) -> int | None:
    match = _DURATION.fullmatch(value)
    if match is None:
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def check_record(
    state: ZohoState,
    module: ModuleDef,
    data: Any,
    index: int,
    *,
    existing: Record | None = None,
) -> Record:
    """Validate one record; return the cleaned values to store or raise :class:`RecordProblem`.

    ``existing`` is the stored record on update (mandatory fields need only stay non-empty).
    """
    path = f"$.data[{index}]"
    if not isinstance(data, dict):
        raise RecordProblem(record_error("INVALID_DATA", MSG_INVALID_DATA, json_path=path))
    _check_mandatory(module, data, path, existing)
    cleaned: Record = {}
    for name, value in data.items():
        fdef = module.get(name)
        if fdef is None or fdef.read_only:
            continue
        cleaned[name] = _check_value(state, module, fdef, value, data, path, existing)
        if fdef.data_type == "lookup" and len(fdef.lookup) > 1:
            cleaned["$se_module"] = data.get("$se_module") or (existing or {}).get("$se_module")
    _check_call(module, {**(existing or {}), **cleaned}, path, cleaned)
    return cleaned


def _mandatory_problem(name: str, path: str) -> RecordProblem:
    return RecordProblem(
        record_error(
            "MANDATORY_NOT_FOUND", MSG_MANDATORY, api_name=name, json_path=f"{path}.{name}"
        )
    )


def _check_mandatory(
    module: ModuleDef, data: dict[str, Any], path: str, existing: Record | None
) -> None:
    for fdef in module.mandatory_fields():
        name = fdef.api_name
        if name == "Call_Duration":
            call_type = data.get("Call_Type", (existing or {}).get("Call_Type"))
            if call_type == "Missed":
                continue  # a missed call has no duration
        if existing is None:
            if name not in data or _empty(data[name]):
                raise _mandatory_problem(name, path)
        elif name in data and _empty(data[name]):
            raise _mandatory_problem(name, path)


def _invalid(name: str, path: str, message: str = MSG_INVALID_DATA, **extra: Any) -> RecordProblem:
    return RecordProblem(
        record_error("INVALID_DATA", message, api_name=name, json_path=f"{path}.{name}", **extra)
    )


def _check_value(
    state: ZohoState,
    module: ModuleDef,
    fdef: FieldDef,
    value: Any,
    data: dict[str, Any],
    path: str,
    existing: Record | None,
) -> Any:
    name, kind = fdef.api_name, fdef.data_type
    if value is None:
        if kind == "ownerlookup":  # a record always has an owner
            raise _invalid(name, path, expected_data_type="ownerlookup")
        return None
    if kind in _TEXT_TYPES or kind == "picklist":
        if not isinstance(value, str):
            raise _invalid(name, path, expected_data_type=kind)
        if len(value) > fdef.length:
            raise _invalid(name, path, maximum_length=str(fdef.length))
        if kind == "email" and value and not _EMAIL.match(value):
            raise _invalid(name, path, expected_data_type="email")
        if kind == "phone" and re.search(r"[A-Za-wyz]", value):
            raise _invalid(name, path, expected_data_type="phone")
        if kind == "picklist" and fdef.restricted and not fdef.allows(value):
            raise _invalid(name, path)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _invalid(name, path, expected_data_type="boolean")
        return value
    if kind in ("integer", "bigint"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(name, path, expected_data_type="integer")
        return value
    if kind in ("currency", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(name, path, expected_data_type=kind)
        return value
    if kind == "date":
        if not isinstance(value, str) or not _is_date(value):
            raise _invalid(name, path, expected_data_type="date")
        return value
    if kind == "datetime":
        if not isinstance(value, str) or parse_datetime(value) is None:
            raise _invalid(name, path, expected_data_type="datetime")
        return value
    if kind == "event_reminder":
        if not isinstance(value, dict) or not isinstance(value.get("ALARM"), str):
            raise _invalid(name, path, expected_data_type="event_reminder")
        return {"ALARM": value["ALARM"]}
    if kind == "ownerlookup":
        user_id = _ref_id(value)
        if user_id is None:
            raise _invalid(name, path, expected_data_type="ownerlookup")
        if user_id not in state.users:
            raise _invalid(name, path, MSG_BAD_ID)
        if not state.active_user(user_id):
            raise _invalid(name, path)
        return {"id": user_id}
    if kind == "lookup":
        return _check_lookup(state, fdef, value, data, path, existing)
    return value


def _ref_id(value: Any) -> str | None:
    raw = value.get("id") if isinstance(value, dict) else value
    if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
        return None
    return str(raw)


def _check_lookup(
    state: ZohoState,
    fdef: FieldDef,
    value: Any,
    data: dict[str, Any],
    path: str,
    existing: Record | None,
) -> Any:
    name = fdef.api_name
    target_id = _ref_id(value)
    if target_id is None:
        raise _invalid(name, path, expected_data_type="lookup")
    target_module = fdef.lookup[0]
    if len(fdef.lookup) > 1:
        se_module = data.get("$se_module") or (existing or {}).get("$se_module")
        if se_module not in fdef.lookup:
            raise RecordProblem(
                record_error(
                    "INVALID_DATA",
                    MSG_INVALID_DATA,
                    api_name="$se_module",
                    json_path=f"{path}.$se_module",
                )
            )
        target_module = str(se_module)
    if state.find(target_module, target_id) is None:
        raise _invalid(name, path, MSG_BAD_ID)
    return {"id": target_id}


def _check_call(module: ModuleDef, merged: Record, path: str, cleaned: Record) -> None:
    """Calls: ``Call_Duration`` is ``MM:SS``, and not zero for an answered call."""
    if module.api_name != "Calls" or "Call_Duration" not in cleaned:
        return
    raw = cleaned["Call_Duration"]
    if raw is None:
        return
    seconds = duration_seconds(str(raw))
    if seconds is None:
        raise _invalid("Call_Duration", path, expected_data_type="duration")
    if seconds == 0 and merged.get("Call_Type") in ("Inbound", "Outbound"):
        raise _invalid("Call_Duration", path)
    cleaned["Call_Duration_in_seconds"] = seconds
