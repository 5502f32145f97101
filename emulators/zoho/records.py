"""Record writes: insert, update, upsert, delete and lead conversion over a :class:`ZohoState`.

Batch semantics follow Zoho: items are handled one after the other in input order (so the second
of two items with the same ``rs_sync_key`` is a ``DUPLICATE_DATA`` of the first), each gets its
own result item, and the HTTP status sums them up: all succeeded → 201 (insert) / 200 (update,
upsert), some → 207, none → 400, the body being ``{"data": [...]}`` in every case.
"""

from __future__ import annotations

from typing import Any

from emulators.zoho.errors import (
    MSG_BAD_ID,
    MSG_DUPLICATE,
    ZohoError,
    invalid_param,
    record_error,
)
from emulators.zoho.org import ModuleDef, record_name
from emulators.zoho.state import Record, ZohoState, iso
from emulators.zoho.validation import RecordProblem, check_record

#: Upsert's system duplicate-check fields when the request names none (unique fields are added).
DEFAULT_DUPLICATE_CHECK: dict[str, tuple[str, ...]] = {
    "Leads": ("Email",),
    "Contacts": ("Email",),
    "Accounts": ("Account_Name",),
    "Deals": ("Deal_Name",),
}


# -- storage with the unique-value index ---------------------------------------------------------


def _unique_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _changed(state: ZohoState, module: str, operation: str, record_id: str) -> None:
    """Note a change for the notification channels watching ``module`` (see ``watch``)."""
    if state.watches.channels:
        state.watches.changes.append((module, operation, record_id))


def store(state: ZohoState, module: ModuleDef, record: Record) -> None:
    """Put ``record`` in the org (new or replaced) and keep the unique index in step."""
    old = state.records[module.api_name].get(record["id"])
    _changed(state, module.api_name, "insert" if old is None else "update", str(record["id"]))
    index = state.unique_index.setdefault(module.api_name, {})
    for fdef in module.unique_fields():
        values = index.setdefault(fdef.api_name, {})
        if old is not None and (key := _unique_key(old.get(fdef.api_name))) is not None:
            values.pop(key, None)
        if (key := _unique_key(record.get(fdef.api_name))) is not None:
            values[key] = record["id"]
    state.records[module.api_name][record["id"]] = record


def remove(state: ZohoState, module: ModuleDef, record_id: str) -> Record | None:
    record = state.records[module.api_name].pop(record_id, None)
    if record is None:
        return None
    _changed(state, module.api_name, "delete", record_id)
    index = state.unique_index.get(module.api_name, {})
    for fdef in module.unique_fields():
        if (key := _unique_key(record.get(fdef.api_name))) is not None:
            index.get(fdef.api_name, {}).pop(key, None)
    return record


def find_unique(state: ZohoState, module: str, field: str, value: Any) -> str | None:
    key = _unique_key(value)
    if key is None:
        return None
    return state.unique_index.get(module, {}).get(field, {}).get(key)


# -- building records ----------------------------------------------------------------------------


def _derive(module: ModuleDef, record: Record, now_iso: str) -> None:
    if module.api_name in ("Leads", "Contacts"):
        record["Full_Name"] = record_name(module.api_name, record)
    if module.api_name == "Leads":
        record.setdefault("Converted__s", False)
    if module.api_name == "Tasks" and record.get("Status") == "Completed":
        record.setdefault("Closed_Time", now_iso)


def new_record(
    state: ZohoState, module: ModuleDef, values: Record, record_id: str | None = None
) -> Record:
    """A record with system fields set from the clock and the current user."""
    now = state.now()
    me = {"id": state.current_user_id}
    record: Record = {
        "id": record_id or state.new_id(),
        "Owner": dict(me),
        "Created_By": dict(me),
        "Modified_By": dict(me),
        "Created_Time": now,
        "Modified_Time": now,
    }
    record.update(values)
    record["id"] = str(record["id"])
    _derive(module, record, iso(now))
    return record


def _success(state: ZohoState, record: Record, message: str) -> dict[str, Any]:
    def who(ref: Any) -> Any:
        user = state.minified_user(ref["id"]) or {}
        return {"name": user.get("name", ""), "id": user.get("id")}

    return {
        "code": "SUCCESS",
        "details": {
            "Modified_Time": state.iso(record["Modified_Time"]),
            "Modified_By": who(record["Modified_By"]),
            "Created_Time": state.iso(record["Created_Time"]),
            "id": record["id"],
            "Created_By": who(record["Created_By"]),
            "$approval_state": "approved",
        },
        "message": message,
        "status": "success",
    }


def _check_unique(
    state: ZohoState, module: ModuleDef, values: Record, index: int, self_id: str | None
) -> None:
    for fdef in module.unique_fields():
        other = find_unique(state, module.api_name, fdef.api_name, values.get(fdef.api_name))
        if other is None or other == self_id:
            continue
        dup = state.records[module.api_name][other]
        raise RecordProblem(
            record_error(
                "DUPLICATE_DATA",
                MSG_DUPLICATE,
                api_name=fdef.api_name,
                json_path=f"$.data[{index}].{fdef.api_name}",
                duplicate_record={
                    "id": other,
                    "module": {"api_name": module.api_name, "id": module.id},
                    "Owner": state.minified_user(dup["Owner"]["id"]),
                },
            )
        )


def status_of(results: list[dict[str, Any]], success_status: int) -> int:
    ok = sum(1 for r in results if r["status"] == "success")
    if ok == len(results):
        return success_status
    return 207 if ok else 400


# -- operations ----------------------------------------------------------------------------------


def insert_one(state: ZohoState, module: ModuleDef, item: Any, index: int) -> dict[str, Any]:
    try:
        values = check_record(state, module, item, index)
        _check_unique(state, module, values, index, None)
    except RecordProblem as problem:
        return problem.item
    record = new_record(state, module, values)
    store(state, module, record)
    return _success(state, record, "record added")


def update_one(
    state: ZohoState, module: ModuleDef, item: Any, index: int, record_id: str | None = None
) -> dict[str, Any]:
    raw_id = record_id or (item.get("id") if isinstance(item, dict) else None)
    if raw_id is None or raw_id == "":
        return record_error(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            api_name="id",
            json_path=f"$.data[{index}].id",
        )
    existing = state.find(module.api_name, str(raw_id))
    if existing is None:
        return record_error(
            "INVALID_DATA", MSG_BAD_ID, api_name="id", json_path=f"$.data[{index}].id"
        )
    if existing.get("Converted__s") is True:
        return record_error(
            "CONVERTED_RECORD", "can't update the converted record", id=existing["id"]
        )
    try:
        values = check_record(state, module, item, index, existing=existing)
        _check_unique(state, module, values, index, existing["id"])
    except RecordProblem as problem:
        return problem.item
    apply_update(state, module, existing, values)
    return _success(state, existing, "record updated")


def apply_update(state: ZohoState, module: ModuleDef, existing: Record, values: Record) -> None:
    now = state.now()
    merged = {**existing, **values}
    merged["Modified_Time"] = now
    merged["Modified_By"] = {"id": state.current_user_id}
    _derive(module, merged, iso(now))
    store(state, module, merged)
    existing.clear()
    existing.update(merged)
    state.records[module.api_name][existing["id"]] = existing


def upsert_one(
    state: ZohoState, module: ModuleDef, item: Any, index: int, check_fields: list[str]
) -> dict[str, Any]:
    if isinstance(item, dict):
        for name in check_fields:
            match = _find_by_value(state, module, name, item.get(name))
            if match is not None:
                result = update_one(state, module, item, index, record_id=match)
                if result["status"] == "success":
                    result["action"] = "update"
                    result["duplicate_field"] = name
                return result
    result = insert_one(state, module, item, index)
    if result["status"] == "success":
        result["action"] = "insert"
        result["duplicate_field"] = None
    return result


def duplicate_check_fields(module: ModuleDef, requested: Any) -> list[str]:
    """Upsert's duplicate-check fields, in the order they are tried.

    Without ``duplicate_check_fields``: the module's system-defined duplicate-check fields, then
    its unique fields. Given, each must be one of those (Zoho: "system-defined duplicate check
    fields and user-defined unique fields"); any other name, known field or not, is a request
    error (400 ``INVALID_DATA`` naming it), never silently dropped or treated as unique.
    """
    allowed = list(DEFAULT_DUPLICATE_CHECK.get(module.api_name, ()))
    allowed += [f.api_name for f in module.unique_fields() if f.api_name not in allowed]
    if requested is None or requested == []:
        return allowed
    if not isinstance(requested, list):
        raise invalid_param("duplicate_check_fields")
    for index, name in enumerate(requested):
        if not isinstance(name, str) or name not in allowed:
            raise ZohoError(
                400,
                "INVALID_DATA",
                "Please check whether the input values are correct",
                {"api_name": str(name), "json_path": f"$.duplicate_check_fields[{index}]"},
            )
    return list(requested)


def _find_by_value(state: ZohoState, module: ModuleDef, name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    fdef = module.get(name)
    if fdef is not None and fdef.unique:
        return find_unique(state, module.api_name, name, value)
    for record in state.records[module.api_name].values():
        if record.get(name) == value:
            return str(record["id"])
    return None


def delete_one(state: ZohoState, module: ModuleDef, record_id: str) -> dict[str, Any]:
    record = remove(state, module, record_id)
    if record is None:
        return record_error("INVALID_DATA", MSG_BAD_ID, id=record_id)
    me = state.minified_user(state.current_user_id)
    state.deleted[module.api_name].append(
        {
            "deleted_by": me,
            "id": record_id,
            "display_name": record_name(module.api_name, record),
            "type": "recycle",
            "created_by": state.minified_user(record["Created_By"]["id"]),
            "deleted_time": state.iso(state.now()),
        }
    )
    return {
        "code": "SUCCESS",
        "details": {"id": record_id},
        "message": "record deleted",
        "status": "success",
    }
