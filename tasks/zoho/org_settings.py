"""Org settings in Zoho's answers → callsync's shapes. Pure: the client fetches, this reads.

- Closed Deal stages (:func:`closed_stages`), from the ``Stage`` field of
  ``GET /crm/v8/settings/fields?module=Deals``: each ``pick_list_values`` item carries its
  ``forecast_type`` (renamed "deal category" in Zoho's UI, also sent as ``deal_category``):
  ``Open``, ``Closed Won`` or ``Closed Lost``; and its ``forecast_category`` (``Pipeline``,
  ``Closed``, ``Omitted``, or an org's own category for open deals). A stage is closed when its
  type is Closed Won or Closed Lost; an item without a type is judged by its category (``Closed``
  and ``Omitted`` are the closed deals' categories), and one with neither by Zoho's default
  closed names. Both names of a closed stage are kept: ``display_value`` (what users see, e.g.
  ``Closed-Lost to Competition``) and ``actual_value`` (what the API stores, ``Closed Lost to
  Competition``).
- Business hours (:func:`working_hours`), from ``GET /crm/v8/settings/business_hours``:
  ``{"business_hours": {"type": "24_by_7" | "24_by_5" | "custom", "business_days": [...],
  "same_as_everyday": bool, "daily_timing": ["09:00", "18:00"], "custom_timing": [{"days":
  "Monday", "business_timing": ["09:00", "18:00"]}], ...}}``; 204 (nothing configured) is 24×7.
  Timings are pairs of start and end (more pairs: more intervals that day); an end before its
  start runs past midnight into the next day. Times are the org's wall-clock times, which
  callsync reads in ``scenario.company_timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from models.crm import ZOHO_DEFAULT_CLOSED_STAGES, stage_key
from models.hours import MINUTES_PER_DAY, WEEKDAYS, Interval, WorkingHours, parse_hhmm

CLOSED_TYPES = frozenset({"closed won", "closed lost"})
CLOSED_CATEGORIES = frozenset({"closed", "omitted"})
_DEFAULT_KEYS = frozenset(stage_key(s) for s in ZOHO_DEFAULT_CLOSED_STAGES)
_DAY_NAMES = {name: i for i, name in enumerate(WEEKDAYS)}
_TYPES = {
    **dict.fromkeys(("24_by_7", "24*7", "24x7"), "24_by_7"),
    **dict.fromkeys(("24_by_5", "24*5", "24x5"), "24_by_5"),
    "custom": "custom",
}
"""Zoho answers ``24_by_7``; its input documentation writes ``24*7``: both are read."""
_AMPM = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*([AaPp])\.?[Mm]\.?")


class OrgSettingsError(ValueError):
    """A settings answer that cannot be read; the message says what was wrong."""


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _closed(item: Mapping[str, Any]) -> bool:
    kind = _text(item.get("forecast_type")) or _text(item.get("deal_category"))
    if kind is not None:
        return kind.casefold() in CLOSED_TYPES
    category = item.get("forecast_category")
    name = _text(category.get("name")) if isinstance(category, Mapping) else None
    if name is not None:
        return name.casefold() in CLOSED_CATEGORIES
    names = (_text(item.get("actual_value")), _text(item.get("display_value")))
    return any(n is not None and stage_key(n) in _DEFAULT_KEYS for n in names)


def closed_stages(fields: Iterable[Mapping[str, Any]]) -> frozenset[str] | None:
    """The Deal stages the org counts as closed won or lost; None when the fields metadata has
    no ``Stage`` picklist (keep Zoho's defaults then)."""
    stage = next((f for f in fields if f.get("api_name") == "Stage"), None)
    values = stage.get("pick_list_values") if stage is not None else None
    if not isinstance(values, list) or not values:
        return None
    out: set[str] = set()
    for item in values:
        if isinstance(item, Mapping) and _closed(item):
            out.update(
                n for n in (_text(item.get(k)) for k in ("actual_value", "display_value")) if n
            )
    return frozenset(out)


def _minutes(value: Any) -> int:
    text = _text(value)
    if text is None:
        raise OrgSettingsError(f"business hours: {value!r} is not a time of day")
    match = _AMPM.fullmatch(text)
    if match is not None:  # "9:00 AM", "6 PM"
        hour, minute = int(match[1]) % 12, int(match[2] or 0)
        if match[3].lower() == "p":
            hour += 12
        text = f"{hour:02d}:{minute:02d}"
    try:
        return parse_hhmm(text)
    except ValueError as exc:
        raise OrgSettingsError(f"business hours: {exc}") from None


def _day(value: Any) -> int:
    text = (_text(value) or "").lower()[:3]
    if text not in _DAY_NAMES:
        raise OrgSettingsError(f"business hours: {value!r} is not a weekday")
    return _DAY_NAMES[text]


def _add(week: list[list[Interval]], day: int, timing: Sequence[Any]) -> None:
    if len(timing) < 2 or len(timing) % 2:
        raise OrgSettingsError(f"business hours: timing {list(timing)!r} is not start/end pairs")
    for i in range(0, len(timing), 2):
        start, end = _minutes(timing[i]), _minutes(timing[i + 1])
        if end == 0:
            end = MINUTES_PER_DAY  # "00:00" as an end is midnight, the end of the day
        if start < end:
            week[day].append((start, end))
        elif start > end:  # past midnight: the rest of the day, then the next morning
            week[day].append((start, MINUTES_PER_DAY))
            week[(day + 1) % 7].append((0, end))


def _merged(intervals: list[Interval]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def working_hours(body: Mapping[str, Any] | None) -> WorkingHours:
    """A ``GET /settings/business_hours`` answer (None for 204) → working hours."""
    if body is None:
        return WorkingHours.always()
    hours = body.get("business_hours")
    if not isinstance(hours, Mapping):
        raise OrgSettingsError("business hours: the answer has no 'business_hours' object")
    kind = _TYPES.get((_text(hours.get("type")) or "24_by_7").lower())
    if kind == "24_by_7":
        return WorkingHours.always()
    days = [_day(d) for d in hours.get("business_days") or []]
    if not days:
        raise OrgSettingsError("business hours: no business_days")
    week: list[list[Interval]] = [[] for _ in WEEKDAYS]
    if kind == "24_by_5":
        for day in days:
            week[day].append((0, MINUTES_PER_DAY))
    elif kind == "custom":
        custom = {
            _day(t.get("days")): t.get("business_timing") or []
            for t in hours.get("custom_timing") or []
            if isinstance(t, Mapping)
        }
        daily = hours.get("daily_timing") or []
        for day in days:
            timing = daily if hours.get("same_as_everyday") or day not in custom else custom[day]
            _add(week, day, timing)
    else:
        raise OrgSettingsError(f"business hours: unknown type {hours.get('type')!r}")
    try:
        return WorkingHours(week=tuple(_merged(d) for d in week), source="zoho")
    except ValueError as exc:
        raise OrgSettingsError(f"business hours: {exc}") from None
