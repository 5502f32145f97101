"""The phone index: every Lead, Contact and Deal callsync may match a call to, kept current cheaply.

The first refresh lists the three modules once (only the fields matching needs); later refreshes
ask each module only for what changed since its watermark (``If-Modified-Since``, 304 when
nothing did) and for what was deleted, so matching a call costs no API request.

Quirks handled:

- Zoho leaves converted leads out of ``GET /Leads`` unless ``converted=both``: without it a lead
  converted since the last refresh would never be seen as converted;
- ``Modified_Time`` has one-second resolution and a record saved in the same second as the
  previous listing would be missed by a strict "newer than": each watermark is re-read with an
  overlap (:data:`OVERLAP`); records read twice simply replace themselves;
- watermarks are Zoho's own ``Modified_Time`` values (the org's clock, not ours) for changes,
  and our clock at the start of the previous refresh for deletions (``<module>:deleted``);
- a record deleted and then restored from the recycle bin within one interval is dropped until
  its next change (the deletions list carries no restore events);
- the index keeps phones as they were *read*: when the way phone fields are read changes (e.g.
  every number typed into a value became a key), an index built by older rules is listed again
  once, in full (watermark :data:`PHONE_RULES`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from models.crm import CrmRecord, CrmSnapshot, ZohoUser
from models.settings import ScenarioSettings
from tasks.crm_records import RecordShapeError, record_from_zoho, user_from_zoho
from tasks.zoho.client import ZohoClient, gather_all

log = logging.getLogger(__name__)

MODULES = ("Leads", "Contacts", "Deals")
OVERLAP = timedelta(seconds=60)
"""How far before a watermark each incremental read starts again."""

PHONE_RULES = "phones:rules"
PHONE_RULES_VERSION = datetime(2026, 12, 2, tzinfo=UTC)
"""The phone-reading rules the index was built with, as a watermark that only moves forward.
Move the date on whenever phone fields are read differently: older indexes are listed again."""
_PHONE_MODULES = ("Leads", "Contacts")

IndexKey = tuple[str, str]
"""(module, record id)."""


@dataclass(frozen=True)
class IndexState:
    """The index between refreshes. Treat as immutable: refreshes return a new state."""

    records: dict[IndexKey, CrmRecord] = field(default_factory=dict)
    watermarks: dict[str, datetime] = field(default_factory=dict)
    """``<module>``: newest ``Modified_Time`` seen; ``<module>:deleted``: last deletions check."""


def index_fields(module: str, scenario: ScenarioSettings) -> list[str]:
    """The fields matching and the scenarios need from ``module``, nothing more."""
    common = ["Owner", "Modified_Time"]
    utm = list(scenario.utm_fields.model_dump().values())
    if module == "Leads":
        wanted = [
            *scenario.lead_phone_fields,
            *common,
            "Last_Name",
            "First_Name",
            "Converted__s",
            "Converted_Contact",
            "Converted_Deal",
            "Converted_Date_Time",
            "Lead_Status",
            scenario.sync_key_field,  # a lead the call created itself is not its client
            *utm,
        ]
    elif module == "Contacts":
        wanted = [*scenario.contact_phone_fields, *common, "Last_Name", "First_Name"]
    else:
        wanted = [*common, "Deal_Name", "Stage", "Contact_Name", "Amount", "Closing_Date"]
    if module != "Leads" and scenario.mode == "enrich_contacts_deals":
        wanted += utm  # only that mode writes UTM onto Contacts/Deals, and needs the fields
    return list(dict.fromkeys(wanted))


def _records(
    module: str, rows: Iterable[Mapping[str, Any]], scenario: ScenarioSettings
) -> list[CrmRecord]:
    out = []
    for row in rows:
        try:
            out.append(record_from_zoho(module, row, scenario))
        except RecordShapeError as exc:
            log.warning("phone index: %s record skipped: %s", module, exc)
    return out


async def _refresh_module(
    client: ZohoClient,
    state: IndexState,
    module: str,
    scenario: ScenarioSettings,
    started: datetime,
) -> tuple[list[CrmRecord], list[str], dict[str, datetime]]:
    since = state.watermarks.get(module)
    checked = state.watermarks.get(f"{module}:deleted")
    rows = await client.list_records(
        module,
        index_fields(module, scenario),
        modified_since=since - OVERLAP if since else None,
        converted="both" if module == "Leads" else None,
    )
    changed = _records(module, rows, scenario)
    # A first load sees no deleted records; deletions matter only once something was indexed.
    deleted = await client.deleted_ids(module, since=checked - OVERLAP) if checked else []
    marks = {f"{module}:deleted": started}
    times = [r.modified_time for r in changed] + ([since] if since else [])
    if times:
        marks[module] = max(times)
    return changed, deleted, marks


async def refresh_index(
    client: ZohoClient, state: IndexState, scenario: ScenarioSettings
) -> IndexState:
    """Bring the index up to date: a full load the first time, then only changes and deletions."""
    started = client.clock()
    if state.records and state.watermarks.get(PHONE_RULES, datetime.min.replace(tzinfo=UTC)) < (
        PHONE_RULES_VERSION
    ):
        log.info("phone index: built by older phone rules; Leads and Contacts are listed again")
        marks = {k: v for k, v in state.watermarks.items() if k not in _PHONE_MODULES}
        state = replace(state, watermarks=marks)
    parts = await gather_all(
        _refresh_module(client, state, module, scenario, started) for module in MODULES
    )
    records = dict(state.records)
    watermarks = dict(state.watermarks)
    for module, (changed, deleted, marks) in zip(MODULES, parts, strict=True):
        for rec in changed:
            records[(module, rec.id)] = rec
        for rid in deleted:
            records.pop((module, rid), None)
        watermarks.update(marks)
        log.info("phone index: %s %d changed, %d deleted", module, len(changed), len(deleted))
    watermarks[PHONE_RULES] = PHONE_RULES_VERSION
    return replace(state, records=records, watermarks=watermarks)


def snapshot(
    state: IndexState,
    users: Sequence[ZohoUser],
    ledger_keys: Mapping[str, str] | None = None,
) -> CrmSnapshot:
    """The read-only view the planner matches calls against; ``ledger_keys`` (Zoho id → sync
    key, from the write ledger) tells which records a call created itself."""
    return CrmSnapshot.build(users, state.records.values(), ledger_keys)


async def load_users(client: ZohoClient) -> list[ZohoUser]:
    """Every user (active or not: an inactive owner must be recognised as such)."""
    return [user_from_zoho(u) for u in await client.users(active_only=False)]
