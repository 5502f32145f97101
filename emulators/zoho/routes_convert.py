"""``POST /crm/v8/Leads/{id}/actions/convert``: a Lead becomes a Contact (an Account, a Deal).

Body (convert_lead.json): ``{"data": [{"overwrite", "notify_lead_owner", "notify_new_entity_owner",
"Contacts": {"id"}?, "Accounts": {"id"}?, "assign_to": {"id"}?, "Deals": {...}?}]}``, every key
optional. The new Contact gets the Lead's names, phones, email, source, description and UTM
fields (or the given existing Contact is used). As in Zoho, a Lead with a ``Company`` gets an
Account named after it (the org's Account of that name if one exists, names being unique), or
the given ``Accounts`` is used; the Contact and the Deal point at it through ``Account_Name``.
``Deals`` data creates a Deal linked to the Contact, checked like an insert. The Lead is marked
``Converted__s: true`` with ``Converted_Contact``, ``Converted_Account``, ``Converted_Deal``,
``Converted_Date_Time`` and a new ``Modified_Time``. Answers per convert_lead.json: ``details``
``{"Contacts", "Deals", "Accounts"}`` with ``null`` for an entity not involved. A converted
lead answers 400 ``ID_ALREADY_CONVERTED``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from emulators.zoho import records
from emulators.zoho.errors import ZohoError, invalid_body
from emulators.zoho.oauth import require_token, state_of
from emulators.zoho.org import UTM_FIELDS, record_name
from emulators.zoho.routes_write import json_body
from emulators.zoho.state import Record, ZohoState
from emulators.zoho.validation import RecordProblem, check_record

router = APIRouter(prefix="/crm/v8", dependencies=[Depends(require_token)])

COPIED_TO_CONTACT = (
    "First_Name",
    "Last_Name",
    "Phone",
    "Mobile",
    "Email",
    "Lead_Source",
    "Description",
    *UTM_FIELDS,
)


def _bad_url_id() -> ZohoError:
    return ZohoError(400, "INVALID_DATA", "invalid data", {"resource_path_index": 1})


def _ref(state: ZohoState, module: str, record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"name": record_name(module, record), "id": record["id"]}


def _owner(state: ZohoState, options: dict[str, Any], lead: Record) -> dict[str, str]:
    assign = options.get("assign_to")
    if isinstance(assign, dict) and assign.get("id") is not None:
        user_id = str(assign["id"])
        if not state.active_user(user_id):
            raise ZohoError(
                400,
                "INVALID_DATA",
                "invalid data",
                {"api_name": "assign_to", "json_path": "$.data[0].assign_to"},
            )
        return {"id": user_id}
    return dict(lead["Owner"])


@router.post("/Leads/{lead_id}/actions/convert")
async def convert(lead_id: str, request: Request) -> JSONResponse:
    state = state_of(request)
    body = await json_body(request)
    items = body.get("data") if isinstance(body, dict) else None
    if body is not None and (
        not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict)
    ):
        raise invalid_body()
    options: dict[str, Any] = items[0] if items else {}
    lead = state.find("Leads", lead_id)
    if lead is None:
        raise _bad_url_id()
    if lead.get("Converted__s") is True:
        raise ZohoError(
            400, "ID_ALREADY_CONVERTED", "id already converted", {"resource_path_index": 1}
        )
    owner = _owner(state, options, lead)
    deal_values: Record | None = None
    if isinstance(options.get("Deals"), dict):
        try:
            deal_values = check_record(state, state.modules["Deals"], options["Deals"], 0)
        except RecordProblem as problem:
            item = problem.item
            path = str(item["details"].get("json_path", "$.data[0]"))
            item["details"]["json_path"] = path.replace("$.data[0]", "$.data[0].Deals", 1)
            return JSONResponse({"data": [item]}, status_code=400)
    account = _account(state, options, lead, owner)
    contact = _contact(state, options, lead, owner, account)
    deal = None
    if deal_values is not None:
        deal_values.setdefault("Owner", owner)
        deal_values["Contact_Name"] = {"id": contact["id"]}
        if account is not None:
            deal_values.setdefault("Account_Name", {"id": account["id"]})
        deal = records.new_record(state, state.modules["Deals"], deal_values)
        records.store(state, state.modules["Deals"], deal)
    records.apply_update(
        state,
        state.modules["Leads"],
        lead,
        {
            "Converted__s": True,
            "Converted_Contact": {"id": contact["id"]},
            "Converted_Deal": {"id": deal["id"]} if deal else None,
            "Converted_Account": {"id": account["id"]} if account else None,
            "Converted_Date_Time": state.now(),
        },
    )
    details = {
        "Contacts": _ref(state, "Contacts", contact),
        "Deals": _ref(state, "Deals", deal),
        "Accounts": _ref(state, "Accounts", account),
    }
    return JSONResponse(
        {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": details,
                    "message": "The record has been converted successfully",
                    "status": "success",
                }
            ]
        }
    )


def _given(state: ZohoState, options: dict[str, Any], module: str) -> Record | None:
    """The existing record named by ``options[module]`` (``{"id"}``), if any."""
    existing = options.get(module)
    if not isinstance(existing, dict) or existing.get("id") is None:
        return None
    found = state.find(module, str(existing["id"]))
    if found is None:
        raise ZohoError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": module, "json_path": f"$.data[0].{module}"},
        )
    return found


def _account(
    state: ZohoState, options: dict[str, Any], lead: Record, owner: dict[str, str]
) -> Record | None:
    given = _given(state, options, "Accounts")
    if given is not None:
        return given
    company = lead.get("Company")
    if not isinstance(company, str) or not company.strip():
        return None
    module = state.modules["Accounts"]
    same = records.find_unique(state, "Accounts", "Account_Name", company)
    if same is not None:
        return state.records["Accounts"][same]
    values: Record = {"Account_Name": company, "Owner": owner}
    if lead.get("Phone"):
        values["Phone"] = lead["Phone"]
    account = records.new_record(state, module, values)
    records.store(state, module, account)
    return account


def _contact(
    state: ZohoState,
    options: dict[str, Any],
    lead: Record,
    owner: dict[str, str],
    account: Record | None,
) -> Record:
    given = _given(state, options, "Contacts")
    if given is not None:
        return given
    values = {k: lead[k] for k in COPIED_TO_CONTACT if lead.get(k) not in (None, "")}
    values["Owner"] = owner
    if account is not None:
        values["Account_Name"] = {"id": account["id"]}
    contact = records.new_record(state, state.modules["Contacts"], values)
    records.store(state, state.modules["Contacts"], contact)
    return contact
