"""Values that fit their Zoho fields (SPEC 13). Pure.

Zoho rejects a whole record (``INVALID_DATA`` with ``maximum_length``) when one text value is
longer than its field allows — and some values are visitor-controlled (a 100 KB ``utm_source``
must not cost the caller their lead). Every text value the writer sends is therefore cut to the
field's ``length`` from the fields metadata (``GET /settings/fields``), ending in ``…`` so that a
reader sees it was cut. Only ``text`` and ``textarea`` fields are cut: a shortened e-mail address,
phone number or URL would be a wrong value, not a shorter one. The sync key is never cut (it is
short by construction, see :mod:`models.sync_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ELLIPSIS = "…"
CUT_TYPES = frozenset({"text", "textarea"})
"""Zoho ``data_type`` values whose content may be shortened."""


def text_limits(fields: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """API name → maximum length of the cuttable fields in a ``GET /settings/fields`` answer."""
    limits: dict[str, int] = {}
    for meta in fields:
        name, kind, length = meta.get("api_name"), meta.get("data_type"), meta.get("length")
        if isinstance(name, str) and kind in CUT_TYPES and isinstance(length, int) and length > 0:
            limits[name] = length
    return limits


def cut(value: str, length: int) -> str:
    """``value`` if it fits, else its first ``length - 1`` characters and ``…``."""
    if len(value) <= length:
        return value
    return value[: length - 1] + ELLIPSIS


def fit_records(
    records: Sequence[Mapping[str, Any]], limits: Mapping[str, int], *, keep: Iterable[str] = ()
) -> tuple[list[dict[str, Any]], int]:
    """Each record with its too-long text values cut; and how many values were cut."""
    spared = set(keep)
    out: list[dict[str, Any]] = []
    n = 0
    for rec in records:
        fitted = dict(rec)
        for name, value in rec.items():
            limit = limits.get(name)
            if limit and name not in spared and isinstance(value, str) and len(value) > limit:
                fitted[name] = cut(value, limit)
                n += 1
        out.append(fitted)
    return out, n
