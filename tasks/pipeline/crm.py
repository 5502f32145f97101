"""Who the callers are: the CRM view the planner reads, one protocol and its sources.

A :class:`CrmView` answers, for a chunk of calls, the records their phone keys can match
(:meth:`CrmView.snapshot`), with the users, the TOP manager and the employee map. Sources:

- :class:`StoredCrm` — the phone index in the state store, read per chunk (a window of any size
  costs one chunk's records in memory), optionally overlaid with records read from Zoho and not
  stored: a dry run's refresh, the receiver's point lookup; with it the phone claims (leads
  being created right now by either path) and the open call-back tasks of the chunk's callers;
- :class:`SnapshotCrm` — a whole snapshot in memory (the offline plan over files).

:func:`load_people` reads the users once per run; :func:`refresh_index` brings the stored index
up to date (changes since the watermarks; see :mod:`tasks.zoho.index`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from models.crm import ZOHO_DEFAULT_CLOSED_STAGES, CrmRecord, CrmSnapshot, ZohoUser
from models.hours import WorkingHours
from models.settings import Settings
from tasks.crm_records import user_from_zoho
from tasks.employees import EmployeeMap, find_user
from tasks.scenario import resolve_top_manager
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.index import IndexDelta
from tasks.zoho.index import refresh_index as read_index_changes

USERS = "users:active"
USERS_MAX_AGE = timedelta(minutes=5)
"""How long the active users are kept between runs: a run every minute reads them from Zoho
every five (a user added in Zoho counts within five minutes; a TOP manager or employee the
config names and the kept list lacks makes the run read them at once)."""


@dataclass(frozen=True)
class People:
    """The run's Zoho users, its TOP manager (an active user, or the run fails before writing
    anything), the employee map built from them, the user callsync's token acts as, and the org
    settings the planner follows: the Deal stages that are closed, the working hours."""

    users: tuple[ZohoUser, ...]
    top_manager: ZohoUser
    employees: EmployeeMap
    api_user_id: str | None = None
    closed_stages: frozenset[str] = ZOHO_DEFAULT_CLOSED_STAGES
    hours: WorkingHours | None = None
    """Zoho's business hours (None when the config's ``[scenario.business_hours]`` is set)."""


async def load_people(zoho: ZohoClient, store: Store | None, settings: Settings) -> People:
    """Active users and the TOP manager (``TopManagerError`` before anything is written); the
    users are remembered in the store (names for the reports) with callsync's own user."""
    sc = settings.scenario
    users = await _active_users(zoho, store, settings)
    top = resolve_top_manager(sc, users)
    me = store.api_user_id() if store is not None else None
    if me is None or me not in {u.id for u in users}:
        me = await zoho.current_user_id()
    if store is not None:
        store.save_users(users, api_user_id=me)
    employees = EmployeeMap.build(settings.employees, users, sc)
    hours = None if sc.business_hours is not None else await zoho.business_hours()
    return People(tuple(users), top, employees, me, await zoho.deal_closed_stages(), hours)


async def _active_users(
    zoho: ZohoClient, store: Store | None, settings: Settings
) -> list[ZohoUser]:
    kept = store.cache_get(USERS, USERS_MAX_AGE) if store is not None else None
    if isinstance(kept, list):
        users = [user_from_zoho(u) for u in kept]
        named = [settings.scenario.top_manager, *(e.zoho_user for e in settings.employees)]
        if all(find_user(ident, users) is not None for ident in named if ident.strip()):
            return users
    raw = await zoho.users(active_only=True)
    if store is not None:
        store.cache_put(USERS, raw)
    return [user_from_zoho(u) for u in raw]


async def refresh_index(
    zoho: ZohoClient,
    store: Store,
    settings: Settings,
    people: People,
    *,
    full: bool = False,
    persist: bool = True,
) -> IndexDelta:
    """Read what changed in Zoho since the stored watermarks; keep it (``persist``) or hand it
    back only (a dry run overlays it without touching the store)."""
    delta = await read_index_changes(
        zoho,
        store.index_watermarks(),
        settings.scenario,
        full=full,
        api_user_id=people.api_user_id,
    )
    if persist:
        store.save_index(delta.records, delta.watermarks, deleted=delta.deleted)
    return delta


class CrmView(Protocol):
    """What the planner needs of the CRM for a chunk of calls."""

    @property
    def people(self) -> People: ...

    def snapshot(self, keys: Iterable[str], *, since: datetime | None = None) -> CrmSnapshot:
        """The records the phone ``keys`` can match (Leads and Contacts holding one of them,
        the Deals of those Contacts), which of them calls created, the users, the leads other
        calls are creating for these numbers right now, the callers' open call-backs, and their
        answered calls already handled that started after ``since`` (the chunk's first call:
        only a later answered call can have reached a client already)."""
        ...


@dataclass(frozen=True)
class StoredCrm:
    """The phone index in the state store, read per chunk; ``overlay`` records win over the
    stored ones (same module and id) and add to them."""

    store: Store
    people: People
    overlay: tuple[CrmRecord, ...] = ()
    gone: frozenset[tuple[str, str]] = frozenset()
    """(module, id) of records deleted in Zoho that the store still holds (a dry run)."""

    def with_overlay(
        self, records: Sequence[CrmRecord], gone: Iterable[tuple[str, str]] = ()
    ) -> StoredCrm:
        merged = {(r.module, r.id): r for r in self.overlay}
        merged.update(((r.module, r.id), r) for r in records)
        return replace(self, overlay=tuple(merged.values()), gone=self.gone | frozenset(gone))

    def snapshot(self, keys: Iterable[str], *, since: datetime | None = None) -> CrmSnapshot:
        wanted = set(keys)
        found: dict[tuple[str, str], CrmRecord] = {
            (r.module, r.id): r for r in self.store.index_for_keys(wanted)
        }
        for rec in self.overlay:
            if rec.module != "Deals" and any(p.key in wanted for p in rec.phones):
                found[(rec.module, rec.id)] = rec
            elif (rec.module, rec.id) in found:
                found[(rec.module, rec.id)] = rec  # a newer copy of a record already matched
        contacts = {rid for module, rid in found if module == "Contacts"}
        for rec in self.overlay:
            if rec.module == "Deals" and rec.contact_id in contacts:
                found[(rec.module, rec.id)] = rec
        for key in self.gone:
            found.pop(key, None)
        ids = [rid for _, rid in found]
        return CrmSnapshot.build(
            self.people.users,
            found.values(),
            self.store.created_keys_for(ids),
            closed_stages=self.people.closed_stages,
            rebuilt_creators=self.store.rebuilt_creators(ids),
            claimed=self.store.claims_for_keys(wanted),
            callbacks=self.store.open_callbacks(wanted),
            reached=self.store.answered_calls(wanted, since=since),
        )


@dataclass(frozen=True)
class SnapshotCrm:
    """A whole CRM snapshot in memory (the offline plan over files)."""

    people: People
    crm: CrmSnapshot

    def snapshot(self, keys: Iterable[str], *, since: datetime | None = None) -> CrmSnapshot:
        return self.crm
