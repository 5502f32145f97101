"""Raw Ringostat rows as the store keeps them: canonical JSON and a stable fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

RECORDING_FIELDS = ("recording", "recording_wav")
CONTENT_FIELDS = ("call_type", "disposition", "caller", "caller_number", "dst", "connected_with")
"""What decides a call's scenario: a synced call re-delivered with other values here is reported
as ``changed_after_sync``."""


def to_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, non-JSON values (datetimes, decimals) as text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def fingerprint(row: Mapping[str, Any]) -> str:
    """A stable hash of a row: equal rows hash equal whatever their key order."""
    return json_and_fingerprint(row)[1]


def json_and_fingerprint(row: Mapping[str, Any]) -> tuple[str, str]:
    """The row's canonical JSON and its fingerprint, the JSON written once (ingest keeps both)."""
    text = to_json(dict(row))
    return text, hashlib.sha256(text.encode()).hexdigest()


def call_id(row: Mapping[str, Any]) -> str | None:
    """The row's ``uniqueid``, or None when it is missing or blank."""
    value = row.get("uniqueid")
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def recording_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A recording URL appeared or changed (one that disappeared is not news to a manager)."""
    before = {name: old.get(name) for name in RECORDING_FIELDS}
    for name in RECORDING_FIELDS:
        value = new.get(name)
        if value is None or not str(value).strip():
            continue
        if str(value).strip() != str(before[name] or "").strip():
            return True
    return False


def _norm(name: str, value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if name == "disposition":  # Ringostat writes NO+ANSWER, NO_ANSWER and NO ANSWER alike
        text = " ".join(text.replace("+", " ").replace("_", " ").upper().split())
    return text


def content_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """The :data:`CONTENT_FIELDS` whose values differ between two versions of a call's row.

    A value that was empty before is being filled in (a call first stored from a webhook's few
    parameters, SPEC 12), not changed."""
    return tuple(
        n
        for n in CONTENT_FIELDS
        if _norm(n, old.get(n)) and _norm(n, old.get(n)) != _norm(n, new.get(n))
    )
