"""Zoho CRM wire shapes → domain records (:class:`ZohoUser`, :class:`CrmRecord`). Pure.

Shapes handled (Zoho v8 GET, COQL and ``users`` answers, as Zoho documents them):

- lookups (``Owner``, ``Contact_Name``) arrive as ``{"id": ..., "name": ...}`` from GET and
  sometimes as a bare id string (or ``{"id"}`` only) from COQL;
- ids may be JSON numbers in hand-written fixtures: they are kept as strings;
- ``Converted__s`` is a boolean, but COQL and exports can give ``"true"``/``"false"``;
- ``Modified_Time`` is ISO 8601 with an offset (``2026-01-18T12:45:00+02:00``); a naive value is
  read as UTC, a missing or unreadable one as the epoch (it only orders equally-matching records);
- users: ``status`` ``"active"`` means active; ``full_name`` may be missing (first + last name);
  ``role`` is ``{"name", "id"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from models.call import Phone
from models.crm import CrmModule, CrmRecord, ZohoUser
from models.settings import ScenarioSettings
from tasks.phones import numbers_in

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MODULES: frozenset[str] = frozenset({"Leads", "Contacts", "Deals"})


class RecordShapeError(ValueError):
    """A Zoho record lacks what callsync needs (an ``id`` or an ``Owner``)."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def lookup_id(value: Any) -> str | None:
    """The id of a Zoho lookup value: ``{"id": ...}``, a bare id, or None."""
    if isinstance(value, Mapping):
        return _text(value.get("id"))
    return _text(value)


def parse_zoho_datetime(value: Any) -> datetime:
    """An aware datetime from Zoho's ISO 8601 text (naive → UTC, missing/bad → the epoch)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    text = _text(value)
    if text is None:
        return EPOCH
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return EPOCH
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def user_from_zoho(data: Mapping[str, Any]) -> ZohoUser:
    """A user from Zoho's ``GET /users`` item."""
    user_id = _text(data.get("id"))
    if user_id is None:
        raise RecordShapeError("Zoho user without an id")
    full_name = _text(data.get("full_name"))
    if full_name is None:
        parts = [_text(data.get("first_name")), _text(data.get("last_name"))]
        full_name = " ".join(p for p in parts if p) or (_text(data.get("email")) or user_id)
    role = data.get("role")
    return ZohoUser(
        id=user_id,
        email=_text(data.get("email")) or "",
        full_name=full_name,
        active=(_text(data.get("status")) or "").lower() == "active",
        phone=_text(data.get("phone")),
        mobile=_text(data.get("mobile")),
        role=_text(role.get("name")) if isinstance(role, Mapping) else _text(role),
    )


def _phones(
    data: Mapping[str, Any], fields: tuple[str, ...], scenario: ScenarioSettings
) -> tuple[Phone, ...]:
    seen: set[tuple[str, str]] = set()
    out: list[Phone] = []
    for name in fields:
        # Every number a person typed into the field is a key of the record (SPEC 3, decided).
        for phone in numbers_in(
            _text(data.get(name)),
            region=scenario.default_region,
            match_digits=scenario.match_digits,
        ):
            if (phone.key, phone.e164) not in seen:
                seen.add((phone.key, phone.e164))
                out.append(phone)
    return tuple(out)


def phone_fields_without_number(
    data: Mapping[str, Any], fields: tuple[str, ...], scenario: ScenarioSettings
) -> list[str]:
    """The phone fields of a record that hold text but no number (``n/a``, ``ask Anna``).

    Such a value is ignored for matching; ``callsync doctor`` counts the records that have one.
    """
    out = []
    for name in fields:
        text = _text(data.get(name))
        if text is not None and not numbers_in(
            text, region=scenario.default_region, match_digits=scenario.match_digits
        ):
            out.append(name)
    return out


def _name(module: str, data: Mapping[str, Any]) -> str | None:
    if module == "Deals":
        return _text(data.get("Deal_Name"))
    full = _text(data.get("Full_Name"))
    if full:
        return full
    parts = [_text(data.get("First_Name")), _text(data.get("Last_Name"))]
    return " ".join(p for p in parts if p) or None


def record_from_zoho(module: str, data: Mapping[str, Any], scenario: ScenarioSettings) -> CrmRecord:
    """A Lead, Contact or Deal from a Zoho GET/COQL record."""
    if module not in _MODULES:
        raise RecordShapeError(f"unsupported module {module!r} (Leads, Contacts or Deals)")
    record_id = _text(data.get("id"))
    if record_id is None:
        raise RecordShapeError(f"{module} record without an id")
    owner_id = lookup_id(data.get("Owner"))
    if owner_id is None:
        raise RecordShapeError(f"{module} record {record_id} without an Owner")
    if module == "Leads":
        phones = _phones(data, scenario.lead_phone_fields, scenario)
    elif module == "Contacts":
        phones = _phones(data, scenario.contact_phone_fields, scenario)
    else:
        phones = ()  # a Deal matches through its Contact
    utm: dict[str, str] = {}
    for api_name in scenario.utm_fields.model_dump().values():
        value = _text(data.get(api_name))
        if value is not None:
            utm[api_name] = value
    is_lead = module == "Leads"
    return CrmRecord(
        module=cast(CrmModule, module),
        id=record_id,
        owner_id=owner_id,
        modified_time=parse_zoho_datetime(data.get("Modified_Time")),
        phones=phones,
        converted=module == "Leads" and _truthy(data.get("Converted__s")),
        stage=_text(data.get("Stage")) if module == "Deals" else None,
        contact_id=lookup_id(data.get("Contact_Name")) if module == "Deals" else None,
        name=_name(module, data),
        utm=utm,
        converted_contact_id=lookup_id(data.get("Converted_Contact")) if is_lead else None,
        converted_deal_id=lookup_id(data.get("Converted_Deal")) if is_lead else None,
        converted_at=_optional_datetime(data.get("Converted_Date_Time")) if is_lead else None,
        lead_status=_text(data.get("Lead_Status")) if is_lead else None,
        amount=_amount(data.get("Amount")) if module == "Deals" else None,
        closing_date=_text(data.get("Closing_Date")) if module == "Deals" else None,
        sync_key=_text(data.get(scenario.sync_key_field)),
    )


def _optional_datetime(value: Any) -> datetime | None:
    return parse_zoho_datetime(value) if value else None


def _amount(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RecordShapeError(f"Deal Amount {value!r} is not a number") from None
