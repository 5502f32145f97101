"""Org and module metadata as ``GET /crm/v8/org`` and ``GET /crm/v8/settings/modules`` give it.

Zoho's SDK reads both when it starts: ``/org`` for the org's ``zgid`` (its user signature is
``email:zgid``) and ``/settings/modules`` for the API-supported modules whose fields it then
fetches (``auto_refresh_fields``). As in ``fields_meta``, Zoho's schemas require many keys that
are feature flags here; they get their neutral value. What is real: the org's ``id``, ``zgid``,
``company_name``, ``time_zone``, ``currency`` and ``max_per_page``; each module's ``api_name``,
``id``, labels, ``api_supported``, ``generated_type`` and, for one module, its ``fields``.
"""

from __future__ import annotations

from typing import Any

from emulators.zoho.fields_meta import field_id, module_fields
from emulators.zoho.org import DUMP_MODULES, ModuleDef

#: The emulated org (its time zone is also the default user's).
ORG_ID = "20104001001"
ORG_ZGID = "20104001002"
ORG_NAME = "Callsync Demo"
ORG_TIME_ZONE = "Europe/Kyiv"
ORG_CREATED = "2025-01-06T09:00:00+02:00"

_PLURAL = {"Leads": "Leads", "Contacts": "Contacts", "Deals": "Deals", "Tasks": "Tasks"}


def org_info(primary_email: str, primary_zuid: str) -> dict[str, Any]:
    """The one item of ``{"org": [...]}`` (org.json ``Org``)."""
    return {
        "id": ORG_ID,
        "zgid": ORG_ZGID,
        "ezgid": ORG_ZGID,
        "zia_zgid": 0,
        "primary_zuid": primary_zuid,
        "primary_email": primary_email,
        "company_name": ORG_NAME,
        "alias": None,
        "domain_name": "org" + ORG_ZGID,
        "type": "Production",
        "time_zone": ORG_TIME_ZONE,
        "country": "Ukraine",
        "country_code": "UA",
        "iso_code": "UAH",
        "currency": "Ukrainian Hryvnia - UAH",
        "currency_symbol": "₴",
        "currency_locale": "uk_UA",
        "city": None,
        "state": None,
        "street": None,
        "zip": None,
        "phone": "+380441234567",
        "mobile": None,
        "fax": None,
        "website": "callsync-demo.com",
        "description": None,
        "employee_count": "10",
        "photo_id": None,
        "mc_status": False,
        "gapps_enabled": False,
        "translation_enabled": False,
        "privacy_settings": False,
        "deletable_org_account": False,
        "hipaa_compliance_enabled": False,
        "lite_users_enabled": False,
        "oauth_presence": True,
        "zia_portal_id": None,
        "max_per_page": 200,
        "call_icon": "ringostat",
        "created_time": ORG_CREATED,
        "license_details": {
            "paid_expiry": "2027-01-06T00:00:00+02:00",
            "users_license_purchased": 10,
            "trial_type": None,
            "trial_expiry": None,
            "paid": True,
            "paid_type": "enterprise",
            "trial_action": "",
        },
        "hierarchy_preferences": {"type": "Role_Hierarchy", "strictly_reporting": False},
        "checkin_preferences": {"restricted_event_types": None},
    }


def _all_view(module: ModuleDef, plural: str, owner: dict[str, Any]) -> dict[str, Any]:
    """The module's default custom view, "All <plural>" (custom_views.json)."""
    name = f"All {plural}"
    created = module.get("Created_Time")
    sort = {"api_name": "Created_Time", "id": field_id(module, created)} if created else None
    return {
        "id": str(int(module.id) + 87),
        "name": name,
        "display_value": name,
        "system_name": "ALLVIEWS",
        "category": "public_views",
        "created_time": None,
        "modified_time": None,
        "last_accessed_time": None,
        "created_by": owner,
        "modified_by": owner,
        "module": {"name": module.api_name, "id": module.id},
        "criteria": {
            "comparator": None,
            "field": {"api_name": None, "id": None},
            "value": None,
            "group_operator": None,
            "group": [],
        },
        "default": True,
        "system_defined": True,
        "locked": False,
        "favorite": None,
        "offline": False,
        "access_type": "public",
        "shared_to": [],
        "fields": [],
        "sort_by": sort,
        "sort_order": "desc",
    }


def module_meta(
    module: ModuleDef, sequence: int, modified_by: dict[str, Any], *, with_fields: bool = False
) -> dict[str, Any]:
    """One item of ``{"modules": [...]}`` (modules.json ``modules``)."""
    plural = _PLURAL.get(module.api_name, module.api_name)
    return {
        "id": module.id,
        "api_name": module.api_name,
        "module_name": module.api_name,
        "plural_label": plural,
        "singular_label": module.singular,
        "description": None,
        "generated_type": "default",
        "api_supported": True,
        "sequence_number": sequence,
        "visibility": 1,
        "visible": True,
        "status": "visible",
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "convertable": module.api_name == "Leads",
        "quick_create": True,
        "show_as_tab": module.api_name in DUMP_MODULES or module.api_name == "Accounts",
        "recycle_bin_on_delete": True,
        "common.search_supported": True,
        "filter_supported": True,
        "triggers_supported": True,
        "feeds_required": False,
        "scoring_supported": module.api_name in ("Leads", "Contacts", "Accounts", "Deals"),
        "webform_supported": module.api_name in ("Leads", "Contacts"),
        "email_parser_supported": False,
        "emailTemplate_support": module.api_name in ("Leads", "Contacts", "Accounts", "Deals"),
        "inventory_template_supported": False,
        "isBlueprintSupported": module.api_name not in ("Tasks", "Calls"),
        "presence_sub_menu": False,
        "chart_view": False,
        "chart_view_supported": True,
        "kanban_view": False,
        "kanban_view_supported": True,
        "filter_status": True,
        "zia_view": False,
        "track_current_data": False,
        "web_link": None,
        "arguments": [],
        "profile_count": 2,
        "profiles": [
            {"name": "Administrator", "id": "5843104000000026011"},
            {"name": "Standard", "id": "5843104000000026014"},
        ],
        "modified_time": None,
        "modified_by": modified_by,
        "parent_module": {},
        "activity_badge": None,
        "$field_states": [],
        "$properties": [],
        "$on_demand_properties": [],
        "business_card_field_limit": 5,
        "business_card_fields": [],
        "search_layout_fields": [],
        "per_page": 200,
        "lookup_field_properties": {"fields": []},
        "related_lists": [],
        "related_list_properties": {
            "sort_by": {"api_name": None, "id": None},
            "fields": [],
            "sort_order": None,
        },
        "display_field": None,
        "layouts": [],
        "fields": module_fields(module) if with_fields else [],
        "custom_view": _all_view(module, plural, modified_by),
        "default_mapping_fields": [],
        "layout_associations": [],
    }
