"""The Zoho field shapes callsync writes (SPEC section 7, v8 API names). Pure.

- Lead: ``Last_Name`` (``scenario.lead_name_template``), ``Phone`` (E.164), ``Owner {"id"}``,
  the UTM custom fields with values only, ``Lead_Source`` only when configured, the fields of
  ``[scenario.field_map.Leads]`` with values only, ``rs_sync_key``.
- Task: ``Subject``, ``Status``, ``Owner``, the attachment (``What_Id`` + ``$se_module`` on a Lead
  or Deal, ``Who_Id`` on a Contact or a Deal's Contact), ``Due_Date`` (``yyyy-MM-dd`` in the
  company time zone), ``Remind_At`` for open tasks, ``Description``, the fields of
  ``[scenario.field_map.Tasks]`` with values only, ``rs_sync_key``.

Mapped values are the call's Ringostat fields as text, as they came; cutting a value to the
length of its Zoho field is the writer's job (it knows the fields' metadata).
- Call (``scenario.log_calls``): ``Subject``, ``Call_Type``, ``Call_Start_Time``,
  ``Call_Duration`` (``MM:SS``), ``Voice_Recording__s``, ``Description``, attachment, ``Owner``.

A lead planned in the same run has no Zoho id yet: its lookup goes into ``links`` (field →
sync key) and the writer fills ``{"id": ...}`` once the lead exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from models.call import Call, Direction, Outcome
from models.crm import ZohoUser
from models.plan import Attachment
from models.settings import ScenarioSettings
from tasks.calls import wire_text

SUBJECT_MAX = 255
LAST_NAME_MAX = 80  # Zoho's Leads.Last_Name length

_OUTCOME_WORDS = {
    Outcome.ANSWERED: "answered",
    Outcome.MISSED: "missed",
    Outcome.VOICEMAIL: "voicemail",
}


_EMPTY = "\x00"
"""Stands for a known placeholder without a value while a rendered template is tidied up."""
_SEP = r"[\s,;:/|·•–—-]"
_EMPTY_GROUP = re.compile(rf"\s*(\((?:{_SEP}|\x00)*\)|\[(?:{_SEP}|\x00)*\]|\{{(?:{_SEP}|\x00)*\}})")
"""Brackets holding nothing but emptied placeholders and separators: ``()``, ``( , )``."""
_HOLE = re.compile(rf"{_SEP}*\x00(?:{_SEP}*\x00)*{_SEP}*")
"""Emptied placeholders with the separators around them."""


class _Values(dict[str, str]):
    """Template values: a known name without a value is empty, an unknown name stays as written
    (a typo in a template must stay visible, not vanish)."""

    def __init__(self, values: Mapping[str, str], known: Iterable[str]) -> None:
        super().__init__(values)
        self.known = frozenset(known)

    def __missing__(self, key: str) -> str:
        return _EMPTY if key in self.known else "{" + key + "}"


def _tidy(text: str) -> str:
    """Remove what emptied placeholders leave: empty brackets and dangling separators."""
    text = _EMPTY_GROUP.sub("", text)

    def fill(hole: re.Match[str]) -> str:
        before, after = text[: hole.start()], text[hole.end() :]
        if not before.strip() or before.endswith(("(", "[", "{")):
            return ""  # at the start: nothing to separate from
        if not after.strip() or after.startswith((")", "]", "}")):
            return ""
        # Between two values: keep the separator that followed the last emptied one.
        return hole.group().rpartition(_EMPTY)[2] or " "

    return re.sub(r"\s{2,}", " ", _HOLE.sub(fill, text)).strip()


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders (see :data:`PLACEHOLDERS`).

    A known placeholder with no value for this call renders empty, and the empty brackets and
    separators it leaves are removed: ``Call {phone} ({utm_source})`` without UTM gives
    ``Call +380…``, ``{utm_source} / {utm_medium}`` with only a medium gives ``cpc``. An
    unknown name stays as written; a broken template is used verbatim.
    """
    try:
        rendered = template.format_map(_Values(values, PLACEHOLDERS))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template
    return _tidy(rendered) if _EMPTY in rendered else rendered


def mmss(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def iso_local(moment: datetime, tz: ZoneInfo) -> str:
    """ISO 8601 with offset, seconds precision (Zoho's datetime format)."""
    return local(moment, tz).replace(microsecond=0).isoformat()


def employee_text(call: Call, employee: ZohoUser | None) -> str:
    """Who took the call, for subjects and descriptions."""
    if employee is not None:
        return employee.full_name
    return call.employee_label or "not reported by Ringostat"


PLACEHOLDERS = frozenset(
    {
        "phone",
        "employee",
        "uniqueid",
        "direction",
        "outcome",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "client_id",
    }
)
"""The names a lead name or task subject template may use."""


def template_values(call: Call, employee: ZohoUser | None) -> dict[str, str]:
    return {
        "phone": call.client.e164,
        "employee": employee_text(call, employee),
        "uniqueid": call.uniqueid,
        "direction": call.direction.value,
        "outcome": call.outcome.value,
        **{name: value for name, value in call.utm.items()},
    }


def default_subject(call: Call, status: str) -> str:
    """Subject of a task whose matrix row (an override) names none."""
    if call.direction is Direction.OUTBOUND:
        base = "Outbound call to {phone}"
    elif call.outcome is Outcome.MISSED:
        base = "Missed call from {phone}"
    elif call.outcome is Outcome.VOICEMAIL:
        base = "Voicemail from {phone}"
    else:
        base = "Inbound call from {phone}"
    return base + (": follow up" if status == "open" else "")


def subject(template: str | None, call: Call, employee: ZohoUser | None, status: str) -> str:
    text = render(template or default_subject(call, status), template_values(call, employee))
    return text[:SUBJECT_MAX]


def description(
    call: Call,
    employee: ZohoUser | None,
    tz: ZoneInfo,
    tz_name: str,
    *,
    first_answerer: str | None = None,
) -> str:
    """The multi-line task/call description. ``first_answerer``: who took a transferred call
    first (the pickup's employee), when not the call log's employee."""
    outcome = _OUTCOME_WORDS[call.outcome]
    lines = [
        f"{call.direction.value.capitalize()} call, {outcome} ({call.disposition})",
        f"Call time: {local(call.started_at, tz).strftime('%Y-%m-%d %H:%M:%S')} ({tz_name})",
        f"Talk time: {mmss(call.billsec)} (total {mmss(call.duration)})",
        f"Client number: {call.client.e164}",
    ]
    if employee is not None:
        lines.append(f"Employee: {employee.full_name}")
    elif call.employee_label:
        did = "placed the call" if call.direction is Direction.OUTBOUND else "took the call"
        who = f"Employee: not in the employee map; the SIP/number that {did}: {call.employee_label}"
        if call.employee_name:
            who += f" (Ringostat name: {call.employee_name})"
        lines.append(who)
    elif call.outcome is Outcome.ANSWERED:
        lines.append("Employee: not reported by Ringostat")
    else:
        lines.append("Employee: nobody answered")
    if first_answerer:
        last = employee_text(call, employee)
        lines.append(f"Transferred: answered first by {first_answerer}, then by {last}")
    if call.recording_url:
        label = "Voicemail" if call.outcome is Outcome.VOICEMAIL else "Recording"
        lines.append(f"{label}: {call.recording_url}")
    utm = call.utm.items()
    if utm:
        lines.append("UTM: " + ", ".join(f"{name}={value}" for name, value in utm))
    if call.call_card:
        lines.append(f"Ringostat call card: {call.call_card}")
    lines.append(f"Ringostat call id: {call.uniqueid}")
    return "\n".join(lines)


def attachment_fields(attachment: Attachment | None) -> tuple[dict[str, Any], dict[str, str]]:
    """(fields, links) attaching a Task or Call to the record (SPEC 7)."""
    fields: dict[str, Any] = {}
    links: dict[str, str] = {}
    if attachment is None:
        return fields, links
    if attachment.module == "Contacts":
        if attachment.id is not None:
            fields["Who_Id"] = {"id": attachment.id}
        return fields, links
    if attachment.id is not None:
        fields["What_Id"] = {"id": attachment.id}
    elif attachment.planned_key is not None:
        links["What_Id"] = attachment.planned_key
    fields["$se_module"] = attachment.module
    if attachment.module == "Deals" and attachment.contact_id is not None:
        fields["Who_Id"] = {"id": attachment.contact_id}
    return fields, links


def utm_values(call: Call, scenario: ScenarioSettings) -> dict[str, str]:
    """The call's non-empty UTM values under the configured Zoho field names."""
    names = scenario.utm_fields.model_dump()
    return {names[name]: value for name, value in call.utm.items()}


_WIRE_ALIASES = {"referrer": "refferrer"}  # Ringostat spells it with two f's on the wire


def mapped_values(call: Call, mapping: Mapping[str, str]) -> dict[str, str]:
    """``{Zoho field: the call's value of the Ringostat field}`` for the non-empty values."""
    out: dict[str, str] = {}
    for zoho_name, wire_name in mapping.items():
        value = call.raw.get(wire_name)
        if value is None and wire_name in _WIRE_ALIASES:
            value = call.raw.get(_WIRE_ALIASES[wire_name])
        if isinstance(value, (Mapping, list)):
            continue  # not a value a text field can hold
        text = wire_text(value)
        if text is not None:
            out[zoho_name] = text
    return out


def lead_fields(
    call: Call, owner_id: str, scenario: ScenarioSettings, sync_key: str
) -> dict[str, Any]:
    values = template_values(call, None)
    last_name = render(scenario.lead_name_template, values).strip() or call.client.e164
    fields: dict[str, Any] = {
        "Last_Name": last_name[:LAST_NAME_MAX],
        "Phone": call.client.e164,
        "Owner": {"id": owner_id},
        **utm_values(call, scenario),
    }
    if scenario.lead_source:
        fields["Lead_Source"] = scenario.lead_source
    fields.update(mapped_values(call, scenario.field_map.Leads))
    fields[scenario.sync_key_field] = sync_key
    return fields


def task_fields(
    *,
    subject_text: str,
    open_task: bool,
    owner_id: str,
    attachment: Attachment | None,
    due: datetime,
    description_text: str,
    tz: ZoneInfo,
    scenario: ScenarioSettings,
    sync_key: str,
    mapped: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(fields, links) of a task. ``due`` is the deadline (open) or the call end (log).

    ``mapped``: the call's values of ``[scenario.field_map.Tasks]`` (:func:`mapped_values`).
    """
    attach, links = attachment_fields(attachment)
    fields: dict[str, Any] = {
        "Subject": subject_text,
        "Status": "Not Started" if open_task else "Completed",
        "Owner": {"id": owner_id},
        **attach,
        "Due_Date": local(due, tz).date().isoformat(),
    }
    if open_task:
        fields["Remind_At"] = {
            "ALARM": f"FREQ=NONE;ACTION=POPUP;TRIGGER=DATE-TIME:{iso_local(due, tz)}"
        }
    fields["Description"] = description_text
    fields.update(mapped or {})
    fields[scenario.sync_key_field] = sync_key
    return fields, links


def call_type(call: Call) -> str:
    if call.outcome is not Outcome.ANSWERED:
        return "Missed"
    return "Outbound" if call.direction is Direction.OUTBOUND else "Inbound"


def call_fields(
    *,
    call: Call,
    subject_text: str,
    owner_id: str,
    attachment: Attachment | None,
    description_text: str,
    tz: ZoneInfo,
    scenario: ScenarioSettings,
    sync_key: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(fields, links) of a record in Zoho's Calls module."""
    kind = call_type(call)
    seconds = call.billsec
    if kind != "Missed":
        # Zoho rejects a zero Call_Duration on Inbound/Outbound calls.
        seconds = max(seconds or call.duration, 1)
    attach, links = attachment_fields(attachment)
    fields: dict[str, Any] = {
        "Subject": subject_text,
        "Call_Type": kind,
        "Call_Start_Time": iso_local(call.started_at, tz),
        "Call_Duration": mmss(seconds),
        "Owner": {"id": owner_id},
        **attach,
        "Description": description_text,
    }
    if call.recording_url:
        fields["Voice_Recording__s"] = call.recording_url
    fields[scenario.sync_key_field] = sync_key
    return fields, links


def utm_changes(
    call: Call, current: Mapping[str, str], scenario: ScenarioSettings
) -> dict[str, str]:
    """UTM fields to write onto an existing record (SPEC 8); empty when nothing changes.

    ``first_touch`` fills only fields that are empty on the record; ``last_touch`` overwrites
    fields whose value differs. Empty call values never clear a field.
    """
    changes: dict[str, str] = {}
    for field, value in utm_values(call, scenario).items():
        existing = (current.get(field) or "").strip()
        if scenario.utm_policy == "first_touch":
            if not existing:
                changes[field] = value
        elif existing != value:
            changes[field] = value
    return changes
