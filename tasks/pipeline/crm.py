"""Who the callers are: the CRM view the planner reads, one protocol and its sources.

A :class:`CrmView` answers, for a chunk of calls, the records their phone keys can match
(:meth:`CrmView.snapshot`), with the users, the TOP manager and the employee map. Sources:

- :class:`StoredCrm` — the phone index in the state store, read per chunk (a window of any size
  costs one chunk's records in memory), optionally overlaid with records read from Zoho and not
  stored: a dry run's refresh, the receiver's point lookup;
- :class:`SnapshotCrm` — a whole snapshot in memory (the offline plan over files).

:func:`load_people` reads the users once per run; :func:`refresh_index` brings the stored index
up to date (changes since the watermarks; see :mod:`tasks.zoho.index`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from models.crm import CrmRecord, CrmSnapshot, ZohoUser
from models.settings import Settings
from tasks.crm_records import user_from_zoho
from tasks.employees import EmployeeMap
from tasks.scenario import resolve_top_manager
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.index import IndexDelta
from tasks.zoho.index import refresh_index as read_index_changes


@dataclass(frozen=True)
class People:
    """The run's Zoho users, its TOP manager (an active user, or the run fails before writing
    anything), the employee map built from them, and the user callsync's token acts as."""

    users: tuple[ZohoUser, ...]
    top_manager: ZohoUser
    employees: EmployeeMap
    api_user_id: str | None = None


async def load_people(zoho: ZohoClient, store: Store | None, settings: Settings) -> People:
    """Active users and the TOP manager (``TopManagerError`` before anything is written); the
    users are remembered in the store (names for the reports) with callsync's own user."""
    users = [user_from_zoho(u) for u in await zoho.users(active_only=True)]
    top = resolve_top_manager(settings.scenario, users)
    me = store.api_user_id() if store is not None else None
    if me is None or me not in {u.id for u in users}:
        me = await zoho.current_user_id()
    if store is not None:
        store.save_users(users, api_user_id=me)
    employees = EmployeeMap.build(settings.employees, users, settings.scenario)
    return People(tuple(users), top, employees, me)


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

    def snapshot(self, keys: Iterable[str]) -> CrmSnapshot:
        """The records the phone ``keys`` can match (Leads and Contacts holding one of them,
        the Deals of those Contacts), which of them calls created, and the users."""
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

    def snapshot(self, keys: Iterable[str]) -> CrmSnapshot:
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
            self.people.users, found.values(), self.store.created_keys_for(ids)
        )


@dataclass(frozen=True)
class SnapshotCrm:
    """A whole CRM snapshot in memory (the offline plan over files)."""

    people: People
    crm: CrmSnapshot

    def snapshot(self, keys: Iterable[str]) -> CrmSnapshot:
        return self.crm
