"""Bring the CRM side up to date before planning: users, the TOP manager, the phone index.

The phone index lives in the state store between runs; each run asks Zoho only for what changed
since the last one (Modified_Time watermarks), so matching a call costs no API request.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.crm import CrmSnapshot, ZohoUser
from models.settings import Settings
from tasks.crm_records import user_from_zoho
from tasks.employees import EmployeeMap
from tasks.scenario import resolve_top_manager
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.index import MODULES, IndexState, refresh_index, snapshot


@dataclass(frozen=True)
class CrmView:
    users: tuple[ZohoUser, ...]
    top_manager: ZohoUser
    employees: EmployeeMap
    snapshot: CrmSnapshot
    index_size: int


async def load_users(zoho: ZohoClient, settings: Settings) -> tuple[list[ZohoUser], ZohoUser]:
    """Active users and the TOP manager; fails (TopManagerError) before anything is written."""
    users = [user_from_zoho(u) for u in await zoho.users(active_only=True)]
    return users, resolve_top_manager(settings.scenario, users)


async def refresh_crm(
    zoho: ZohoClient,
    store: Store | None,
    settings: Settings,
    users: list[ZohoUser],
    top_manager: ZohoUser,
    *,
    persist: bool = True,
) -> CrmView:
    """Refresh the phone index incrementally and build the snapshot the planner reads.

    ``persist=False`` (dry runs) refreshes in memory only and leaves the store untouched.
    """
    if store is not None:
        records, watermarks = store.load_index()
    else:
        records, watermarks = {}, {}
    before = dict(records)
    state = await refresh_index(
        zoho, IndexState(records=records, watermarks=watermarks), settings.scenario
    )
    if persist and store is not None:
        deleted = [key for key in before if key not in state.records]
        changed = {k: v for k, v in state.records.items() if before.get(k) != v}
        store.save_index(changed, state.watermarks, deleted=deleted)
        store.save_users(users)
    employees = EmployeeMap.build(settings.employees, users, settings.scenario)
    return CrmView(
        users=tuple(users),
        top_manager=top_manager,
        employees=employees,
        snapshot=snapshot(state, users, store.created_keys(MODULES) if store is not None else None),
        index_size=len(state.records),
    )
