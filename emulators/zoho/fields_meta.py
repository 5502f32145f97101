"""Field metadata as ``GET /crm/v8/settings/fields?module=X`` describes it.

Zoho's schema for a field object lists some 75 required keys; most are feature flags irrelevant
here and are given their neutral value (``false``, ``null`` or an object of nulls). What callsync
reads is real: ``api_name``, ``data_type``, ``length``, ``unique``, ``system_mandatory``,
``custom_field``, ``read_only`` and ``pick_list_values`` — for the Deals ``Stage`` with each
stage's ``forecast_type`` (Open, Closed Won, Closed Lost), ``probability`` and
``forecast_category``, which tell an open deal from a won or lost one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from emulators.zoho.org import FieldDef, ModuleDef, PickValue

_MODULE_REF_NULL = {"api_name": None, "id": None}


def field_id(module: ModuleDef, fdef: FieldDef) -> str:
    """The field's Zoho id: stable, derived from module and API name."""
    digest = hashlib.sha256(f"{module.api_name}.{fdef.api_name}".encode()).hexdigest()
    return f"5843104000000{int(digest[:8], 16) % 1_000_000:06d}"


_CATEGORY_IDS = {"Pipeline": "5843104000000006787", "Closed": "5843104000000006789"}
_CATEGORY_IDS["Omitted"] = "5843104000000006791"


def _detail(value: PickValue) -> dict[str, Any]:
    out: dict[str, Any] = {"display_value": value.label, "actual_value": value.actual_value}
    if value.forecast_type is not None:
        category = value.forecast_category or "Pipeline"
        out["forecast_type"] = value.forecast_type
        out["probability"] = value.probability if value.probability is not None else 0
        out["forecast_category"] = {
            "name": category,
            "id": _CATEGORY_IDS.get(category, "5843104000000006793"),
        }
    return out


def _pick_list(module: ModuleDef, fdef: FieldDef) -> list[dict[str, Any]]:
    values: list[dict[str, Any]]
    if fdef.pick_values:  # a mandatory picklist with details (Stage): no "-None-" option
        values = [_detail(v) for v in fdef.pick_values]
    else:
        values = [{"display_value": "-None-", "actual_value": "-None-"}] if fdef.pick_list else []
        values += [{"display_value": v, "actual_value": v} for v in fdef.pick_list]
    base = int(field_id(module, fdef))
    return [
        {
            **v,
            "colour_code": None,
            "type": "used",
            "id": str(base + 10 * (i + 1)),
            "sequence_number": i + 1,
        }
        for i, v in enumerate(values)
    ]


def field_meta(module: ModuleDef, fdef: FieldDef) -> dict[str, Any]:
    lookup: dict[str, Any] | None = None
    if fdef.data_type == "lookup":
        lookup = {
            "display_label": fdef.display_label,
            "api_name": fdef.api_name,
            "module": {"api_name": fdef.lookup[0], "id": None},
            "id": field_id(module, fdef),
        }
    return {
        "api_name": fdef.api_name,
        "id": field_id(module, fdef),
        "field_label": fdef.display_label,
        "display_label": fdef.display_label,
        "column_name": fdef.api_name.upper(),
        "data_type": fdef.data_type,
        "json_type": _json_type(fdef),
        "length": fdef.length,
        "decimal_place": 2 if fdef.data_type == "currency" else None,
        "unique": {"casesensitive": "false"} if fdef.unique else None,  # a string, as Zoho sends
        "system_mandatory": fdef.mandatory,
        "custom_field": fdef.custom,
        "read_only": fdef.read_only,
        "field_read_only": fdef.read_only,
        "pick_list_values": _pick_list(module, fdef),
        "pick_list_values_sorted_lexically": False,
        "enable_colour_code": False,
        "colour_code_enabled_by_system": False,
        "lookup": lookup,
        "multi_module_lookup": (
            {"modules": [{"api_name": m, "id": None} for m in fdef.lookup]}
            if len(fdef.lookup) > 1
            else None
        ),
        "allowed_modules": [{"api_name": m, "id": None} for m in fdef.lookup[1:] or ()],
        "associated_module": dict(_MODULE_REF_NULL),
        "sub_module": dict(_MODULE_REF_NULL),
        "operation_type": {
            "web_update": not fdef.read_only,
            "api_create": not fdef.read_only,
            "web_create": not fdef.read_only,
            "api_update": not fdef.read_only,
        },
        "view_type": {
            "view": True,
            "edit": not fdef.read_only,
            "quick_create": fdef.mandatory,
            "create": True,
        },
        "webhook": True,
        "blueprint_supported": not fdef.read_only,
        "virtual_field": False,
        "customizable_properties": [],
        "businesscard_supported": True,
        "filterable": True,
        "visible": True,
        "available_in_user_layout": True,
        "display_field": fdef.api_name in ("Last_Name", "Deal_Name", "Subject", "Account_Name"),
        "sortable": True,
        "layout_associations": [
            {"api_name": "Standard", "name": "Standard", "id": str(int(module.id) + 167)}
        ],
        "separator": False,
        "searchable": fdef.data_type in ("text", "phone", "email", "picklist"),
        "mass_update": not fdef.read_only,
        "created_source": "custom" if fdef.custom else "default",
        "type": "used",
        "display_type": -1,
        "ui_type": 1,
        "quick_sequence_number": "0",
        "email_parser": {"fields_update_supported": False, "record_operations_supported": False},
        "rollup_summary": None,
        "refer_from_field": {"id": None, "api_name": None},
        "created_time": None,
        "modified_time": None,
        "show_type": 7,
        "category": 0,
        "sharing_properties": {},
        "currency": None,
        "file_upolad_optionlist": [],
        "profiles": [
            {"name": "Administrator", "id": "5843104000000026011", "permission_type": "read_write"}
        ],
        "subform": None,
        "external": {"show": False, "type": None},
        "formula": None,
        "convert_mapping": {"Contacts": None, "Deals": None, "Accounts": None},
        "multiselectlookup": None,
        "multiuserlookup": {
            "display_label": None,
            "linking_module": dict(_MODULE_REF_NULL),
            "connected_module": dict(_MODULE_REF_NULL),
            "lookup_apiname": None,
            "api_name": None,
            "connectedfield_apiname": None,
            "connectedlookup_apiname": None,
            "id": None,
            "record_access": None,
        },
        "autonumber": {
            "starting_number_length": 0,
            "prefix": None,
            "suffix": None,
            "start_number": None,
        },
        "auto_number": None,
        "crypt": {"mode": None, "status": None},
        "tooltip": {"name": "", "value": ""},
        "history_tracking": {"module": {}, "duration_configured_field": dict(_MODULE_REF_NULL)},
        "association_details": {
            "related_field": dict(_MODULE_REF_NULL),
            "lookup_field": dict(_MODULE_REF_NULL),
        },
        "additional_column": None,
        "common.picklist": None,
        "hipaa_compliance_enabled": False,
        "hipaa_compliance": {"restricted_in_export": False, "restricted": False},
        "_update_existing_records": False,
        "number_separator": False,
        "textarea": {"type": "large"} if fdef.data_type == "textarea" else {},
        "static_field": False,
    }


def _json_type(fdef: FieldDef) -> str:
    return {
        "boolean": "boolean",
        "integer": "integer",
        "bigint": "string",
        "currency": "double",
        "double": "double",
        "lookup": "jsonobject",
        "ownerlookup": "jsonobject",
        "event_reminder": "jsonobject",
    }.get(fdef.data_type, "string")


def module_fields(module: ModuleDef) -> list[dict[str, Any]]:
    return [field_meta(module, f) for f in module.fields.values()]
