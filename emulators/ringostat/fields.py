"""The field names Ringostat's call log knows (``GET /calls/list``, parameter ``fields``).

Taken from Ringostat's API documentation. Asking for any other name makes the real API
answer an error mentioning ``incorrect field``; the emulator does the same.
"""

from __future__ import annotations

KNOWN_FIELDS: tuple[str, ...] = (
    "uniqueid",
    "calldate",
    "call_type",
    "disposition",
    "caller",
    "caller_number",
    "dst",
    "connected_with",
    "employee_number",
    "employee_fio",
    "department",
    "duration",
    "billsec",
    "waittime",
    "duration_ms",
    "recording",
    "recording_wav",
    "has_recording",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "client_id",
    "remote_ip",
    "landing",
    "refferrer",
    "call_card",
    "pool_name",
    "scheme_name",
    "proper_flag",
    "repeated_flag",
    "call_counter",
    "additional_number",
    "category_mark",
    "employee_mark",
)
"""Every field, in the order the emulator answers when ``fields`` is not given."""

KNOWN_FIELD_SET = frozenset(KNOWN_FIELDS)

WIRE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""``from``, ``to`` and ``calldate``: wall-clock time in the project's time zone, no offset."""
