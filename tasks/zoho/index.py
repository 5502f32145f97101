"""The phone index: every Lead, Contact and Deal callsync may match a call to, kept current cheaply.

The index lives in the state store (one row per record, one row per phone key); a chunk of
calls reads only the records holding its callers' keys. This module brings it up to date from
Zoho, in one of two ways:

- **changes** (every sync run): per module, one COQL query (one credit while a minute's changes
  fit in 200 rows) for what changed since the watermark, leaving out the leads callsync created
  itself and that only its own Zoho account touched since: ``Modified_Time >= mark and
  (rs_sync_key is null or Modified_By != <callsync's Zoho user> or Created_Time < mark)``.
  callsync's own writes are not listed back: the writer tells the index about every record it
  creates (and every UTM value it writes) in the same transaction as its ledger entry. The rest
  of the condition keeps edits made through callsync's own Zoho account (a person using the same
  login, a workflow it triggered) to leads older than the watermark; Contacts and Deals, which
  callsync never creates, are listed whoever changed them.
- **full** (the first load, the reports flow every hour, phone rules changed): every record
  modified since the full pass's own watermark, whoever changed it, plus deletions. This is what
  catches changes made through callsync's own account to a record in the minutes after callsync
  created it (e.g. an assignment rule that re-owns new leads).

Deletions (``GET /{module}/deleted``) are checked by a full pass and, in changes mode, at most
every :data:`DELETIONS_EVERY`: a minute's delay costs little, three credits a minute would not.

Quirks handled:

- Zoho leaves converted leads out of ``GET /Leads`` unless ``converted=both``: without it a lead
  converted since the last refresh would never be seen as converted;
- ``Modified_Time`` has one-second resolution and a record saved in the same second as the
  previous listing would be missed by a strict "newer than": each watermark is re-read with an
  overlap (:data:`OVERLAP`); records read twice simply replace themselves;
- watermarks are Zoho's own ``Modified_Time`` values (the org's clock, not ours) for changes,
  and our clock at the start of the previous check for deletions (``<module>:deleted``);
- COQL reaches 100,000 rows through ``offset``: a longer change list is read on from the last
  ``Modified_Time`` it reached;
- a record deleted and then restored from the recycle bin within one interval is dropped until
  its next change (the deletions list carries no restore events);
- the index keeps phones as they were *read*: when the way phone fields are read changes, an
  index built by older rules is listed again once, in full (watermark :data:`PHONE_RULES`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from models.crm import CrmRecord
from models.settings import ScenarioSettings
from tasks.crm_records import RecordShapeError, record_from_zoho
from tasks.zoho.client import ZohoClient, gather_all
from tasks.zoho.coql import (
    MAX_LIMIT,
    MAX_ROWS,
    Condition,
    all_of,
    any_of,
    compare,
    is_null,
    select,
    when,
    zoho_id,
)

log = logging.getLogger(__name__)

MODULES = ("Leads", "Contacts", "Deals")
OVERLAP = timedelta(seconds=60)
"""How far before a watermark each incremental read starts again."""
DELETIONS_EVERY = timedelta(minutes=10)
"""How often a changes-mode refresh asks Zoho for deleted records."""

PHONE_RULES = "phones:rules"
PHONE_RULES_VERSION = datetime(2026, 12, 2, tzinfo=UTC)
"""The phone-reading rules the index was built with, as a watermark that only moves forward.
Move the date on whenever phone fields are read differently: older indexes are listed again."""
_PHONE_MODULES = ("Leads", "Contacts")


@dataclass(frozen=True)
class IndexDelta:
    """What one refresh read: records to upsert, (module, id) pairs gone, new watermarks."""

    records: tuple[CrmRecord, ...]
    deleted: tuple[tuple[str, str], ...]
    watermarks: Mapping[str, datetime]
    full_modules: tuple[str, ...]
    """The modules listed in full (first load, rules changed, or asked for)."""


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


def records_from_zoho(
    module: str, rows: Iterable[Mapping[str, Any]], scenario: ScenarioSettings
) -> list[CrmRecord]:
    """Zoho rows as index records; a row of an unexpected shape is skipped with a warning."""
    out = []
    for row in rows:
        try:
            out.append(record_from_zoho(module, row, scenario))
        except RecordShapeError as exc:
            log.warning("phone index: %s record skipped: %s", module, exc)
    return out


def _others_since(
    module: str, lower: datetime, api_user_id: str | None, sync_key_field: str
) -> Condition:
    """What a changes pass lists: everything modified since ``lower``, except the leads
    callsync created (they carry a sync key) and only callsync's own account touched since."""
    since = compare("Modified_Time", ">=", when(lower))
    if api_user_id is None or module != "Leads":
        # callsync creates no Contacts or Deals: whoever changed one, the index wants it.
        return since
    not_ours = any_of(
        is_null(sync_key_field),
        any_of(
            compare("Modified_By", "!=", zoho_id(api_user_id)),
            compare("Created_Time", "<", when(lower)),
        ),
    )
    return all_of(since, not_ours)


FIRST_PAGE = 200
"""The first COQL page of a changes pass: 200 rows cost 1 credit, 2,000 cost 3, and a busy
minute's changes fit in 200."""


async def _changed_by_others(
    client: ZohoClient,
    module: str,
    fields: list[str],
    lower: datetime,
    api_user_id: str | None,
    sync_key_field: str,
) -> list[dict[str, Any]]:
    """COQL over what others changed since ``lower``: a small first page, then large ones,
    read on past COQL's 100,000-row reach from the last ``Modified_Time`` reached."""
    rows: list[dict[str, Any]] = []
    names = list(dict.fromkeys(["id", *fields]))
    while True:
        where = _others_since(module, lower, api_user_id, sync_key_field)
        offset, limit, reached = 0, FIRST_PAGE, []
        while True:
            query = select(
                module, names, where, order_by="Modified_Time", limit=limit, offset=offset
            )
            page, more = await client.coql(query)
            reached.extend(page)
            offset += limit
            limit = MAX_LIMIT
            if not more or not page or offset + limit > MAX_ROWS:
                break
        rows.extend(reached)
        if not more or not reached:
            return rows
        last = max(str(r.get("Modified_Time") or "") for r in reached)
        nxt = datetime.fromisoformat(last) if last else None
        if nxt is None or nxt <= lower:  # 100,000 changes within one second: cannot narrow
            return rows
        lower = nxt


async def _refresh_module(
    client: ZohoClient,
    marks: Mapping[str, datetime],
    module: str,
    scenario: ScenarioSettings,
    *,
    started: datetime,
    full: bool,
    api_user_id: str | None,
) -> tuple[list[CrmRecord], list[str], dict[str, datetime], bool]:
    mark = marks.get(module)
    mark_all = marks.get(f"{module}:all")
    checked = marks.get(f"{module}:deleted")
    listed_in_full = full or mark_all is None or mark is None
    fields = index_fields(module, scenario)
    if listed_in_full:
        rows = await client.list_records(
            module,
            fields,
            modified_since=mark_all - OVERLAP if mark_all else None,
            converted="both" if module == "Leads" else None,
        )
    else:
        assert mark is not None
        rows = await _changed_by_others(
            client, module, fields, mark - OVERLAP, api_user_id, scenario.sync_key_field
        )
    changed = records_from_zoho(module, rows, scenario)
    new_marks: dict[str, datetime] = {}
    # A first load sees no deleted records; deletions matter only once something was indexed.
    due = checked is not None and (listed_in_full or started - checked >= DELETIONS_EVERY)
    deleted = await client.deleted_ids(module, since=checked - OVERLAP) if due and checked else []
    if due or checked is None:
        new_marks[f"{module}:deleted"] = started
    times = [r.modified_time for r in changed]
    newest = max(times) if times else None
    for name, old in ((module, mark), *(((f"{module}:all", mark_all),) if listed_in_full else ())):
        candidates = [t for t in (newest, old) if t is not None]
        if candidates:
            new_marks[name] = max(candidates)
    return changed, deleted, new_marks, listed_in_full


async def refresh_index(
    client: ZohoClient,
    watermarks: Mapping[str, datetime],
    scenario: ScenarioSettings,
    *,
    full: bool = False,
    api_user_id: str | None = None,
) -> IndexDelta:
    """Read what changed in Zoho since ``watermarks`` (see the module docstring)."""
    started = client.clock()
    marks = dict(watermarks)
    if marks.get(PHONE_RULES, datetime.min.replace(tzinfo=UTC)) < PHONE_RULES_VERSION and any(
        m in marks for m in _PHONE_MODULES
    ):
        log.info("phone index: built by older phone rules; Leads and Contacts are listed again")
        for module in _PHONE_MODULES:
            marks.pop(module, None)
            marks.pop(f"{module}:all", None)
    parts = await gather_all(
        _refresh_module(
            client,
            marks,
            module,
            scenario,
            started=started,
            full=full,
            api_user_id=api_user_id,
        )
        for module in MODULES
    )
    records: list[CrmRecord] = []
    deleted: list[tuple[str, str]] = []
    new_marks: dict[str, datetime] = {PHONE_RULES: PHONE_RULES_VERSION}
    listed: list[str] = []
    for module, (changed, gone, module_marks, in_full) in zip(MODULES, parts, strict=True):
        records.extend(changed)
        deleted.extend((module, rid) for rid in gone)
        new_marks.update(module_marks)
        if in_full:
            listed.append(module)
        log.info(
            "phone index: %s %d changed, %d deleted%s",
            module,
            len(changed),
            len(gone),
            " (listed in full)" if in_full else "",
        )
    return IndexDelta(tuple(records), tuple(deleted), new_marks, tuple(listed))
