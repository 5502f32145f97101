"""The emulated org in memory: metadata, users, roles, records, tokens, faults and counters.

Date-times are kept as instants and answered, as Zoho answers them, in the time zone of the
current user (the token's user; ``time_zone`` of ``GET /users``, the org's by default): a record
created through the API and one seeded with another offset come back with the same offset.

``ZohoState`` is plain data plus small helpers; the HTTP layer (``routes_*``, ``limits``) reads and
mutates it. Tests may inspect it directly through ``app.state.zoho``. Time always comes from the
injected clock, so tests never touch the wall clock.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from emulators.zoho.org import (
    DUMP_MODULES,
    ModuleDef,
    PickValue,
    deal_stage,
    default_modules,
    record_name,
)
from emulators.zoho.settings_meta import ORG_TIME_ZONE

Record = dict[str, Any]
Clock = Callable[[], datetime]

#: Zoho ids are 19-digit numbers sharing an org prefix; ours count up from a fixed base.
ID_BASE = 5843104000000500001
ADMIN_USER_ID = "5843104000000424001"
CEO_ROLE_ID = "5843104000000026005"
ADMIN_PROFILE = {"name": "Administrator", "id": "5843104000000026011"}
STANDARD_PROFILE = {"name": "Standard", "id": "5843104000000026014"}


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Zoho's datetime wire format: ISO 8601 to the second, with offset (as ``dt`` has it).

    Answers use :meth:`ZohoState.iso`, which first moves the instant to the current user's zone.
    """
    return dt.isoformat(timespec="seconds")


class FaultSettings(BaseModel):
    """``PUT /__emulator__/faults`` body; every key optional, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    latency_ms: float = Field(0, ge=0)
    rate_429: float = Field(0.0, ge=0, le=1)
    rate_5xx: float = Field(0.0, ge=0, le=1)
    lost_response_rate: float = Field(0.0, ge=0, le=1)
    concurrency_limit: int = Field(10, ge=1)
    token_ttl_s: float = Field(3600, gt=0)
    credit_budget: int | None = Field(None, ge=0)


@dataclass
class RouteStats:
    requests: int = 0
    credits: int = 0


@dataclass
class Stats:
    """Request accounting, as ``GET /__emulator__/stats`` reports it."""

    requests: int = 0
    credits: int = 0
    by_route: dict[str, RouteStats] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "credits": self.credits,
            "by_route": {
                k: {"requests": v.requests, "credits": v.credits} for k, v in self.by_route.items()
            },
            "max_in_flight": self.max_in_flight,
        }


@dataclass(frozen=True, slots=True)
class AccessToken:
    refresh_token: str
    expires_at: datetime


@dataclass
class Channel:
    """A notification channel (``/crm/v8/actions/watch``)."""

    channel_id: str
    events: set[str]
    notify_url: str
    token: str | None
    expiry: datetime


@dataclass
class Watches:
    """The org's notification channels and the record changes not yet notified."""

    channels: dict[str, Channel] = field(default_factory=dict)
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    """(module, operation, record id) since the last flush."""


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where a listing continues: the query it belongs to and the next offset."""

    signature: str
    offset: int
    expires_at: datetime


class ZohoState:
    """One org. ``reset()`` brings back the default org (see ``emulators.zoho.org``).

    ``org`` names an org of a multi-org emulator (:mod:`emulators.zoho.orgs`); its access tokens
    are drawn from a generator of its own, so two orgs never mint the same token."""

    def __init__(self, clock: Clock | None = None, *, org: str | None = None) -> None:
        self.clock: Clock = clock or utc_now
        self.org = org
        self.faults = FaultSettings()
        self.rng = random.Random(0)
        self.stats = Stats()
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------

    def reset(self) -> None:
        """An empty org with one active admin user (CEO role); faults and counters cleared."""
        self.modules: dict[str, ModuleDef] = default_modules()
        self.records: dict[str, dict[str, Record]] = {m: {} for m in self.modules}
        self.deleted: dict[str, list[Record]] = {m: [] for m in self.modules}
        # module -> unique field -> value -> record id (kept by ``records.store``)
        self.unique_index: dict[str, dict[str, dict[str, str]]] = {}
        self.roles: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.valid_refresh_tokens: set[str] | None = None
        self.business_hours: dict[str, Any] | None = None
        """The org's Business Hours settings as Zoho answers them; None: none configured."""
        self.access_tokens: dict[str, AccessToken] = {}
        self.mint_log: dict[str, deque[datetime]] = {}
        self.used_grant_codes: set[str] = set()
        self.page_tokens: dict[str, PageToken] = {}
        self.watches = Watches()
        self.credit_log: deque[tuple[datetime, int]] = deque()
        self.faults = FaultSettings()
        self.rng = random.Random(0)
        # tokens draw from their own generator, so minting never shifts the fault sequence
        self.token_rng = random.Random(0x20 if self.org is None else f"org:{self.org}")
        self.stats = Stats(in_flight=self.stats.in_flight)
        self.current_user_id = ADMIN_USER_ID
        self._next_id = ID_BASE
        self._token_seq = 0
        self.add_role({"id": CEO_ROLE_ID, "name": "CEO", "reporting_to": None})
        self.add_user(
            {
                "id": ADMIN_USER_ID,
                "first_name": "Org",
                "last_name": "Admin",
                "email": "admin@callsync-demo.com",
                "role": {"name": "CEO", "id": CEO_ROLE_ID},
                "profile": dict(ADMIN_PROFILE),
            }
        )
        self.current_user_id = ADMIN_USER_ID

    def set_faults(self, update: dict[str, Any]) -> FaultSettings:
        """Merge ``update`` into the fault settings; a ``seed`` reseeds the fault dice."""
        merged = {**self.faults.model_dump(), **update}
        self.faults = FaultSettings.model_validate(merged)
        if "seed" in update:
            self.rng = random.Random(self.faults.seed)
        return self.faults

    # -- ids and time ------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def zone(self) -> ZoneInfo:
        """The current user's time zone (the org's when unknown): answers' date-times use it."""
        user = self.users.get(self.current_user_id)
        name = str(user["time_zone"]) if user else ORG_TIME_ZONE
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(ORG_TIME_ZONE)

    def iso(self, value: datetime) -> str:
        """``value`` on the wire: the same instant in the current user's time zone."""
        return iso(value.astimezone(self.zone()))

    def wire_datetime(self, value: Any) -> Any:
        """A stored date-time (a datetime, or an ISO string with offset as written) on the wire."""
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return value
            return self.iso(parsed) if parsed.tzinfo is not None else value
        return self.iso(value) if isinstance(value, datetime) else value

    def new_id(self) -> str:
        self._next_id += 1000  # Zoho ids of one org grow in steps, never by one
        return str(self._next_id)

    def new_token(self, prefix: str) -> str:
        self._token_seq += 1
        return f"{prefix}.{self.token_rng.getrandbits(64):016x}{self._token_seq:06d}"

    # -- users and roles ---------------------------------------------------------------------

    def add_role(self, role: dict[str, Any]) -> dict[str, Any]:
        rid = str(role.get("id") or self.new_id())
        name = str(role.get("name") or role.get("display_label") or f"Role {rid}")
        reporting = role.get("reporting_to")
        if reporting is None and self.roles and role.get("name") != "CEO":
            reporting = {"name": "CEO", "id": CEO_ROLE_ID}
        stored = {
            "id": rid,
            "name": name,
            "display_label": str(role.get("display_label") or name),
            "reporting_to": reporting,
            "forecast_manager": role.get("forecast_manager"),
            "share_with_peers": bool(role.get("share_with_peers", True)),
            "description": role.get("description"),
            "admin_user": bool(role.get("admin_user", rid == CEO_ROLE_ID)),
        }
        self.roles[rid] = stored
        return stored

    def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        uid = str(user.get("id") or self.new_id())
        first = user.get("first_name")
        last = user.get("last_name") or (str(user.get("full_name") or "").split(" ")[-1] or None)
        full = user.get("full_name") or " ".join(str(p) for p in (first, last) if p)
        role = user.get("role") or {"name": "CEO", "id": CEO_ROLE_ID}
        role_id = str(role.get("id") or "")
        if role_id not in self.roles:
            role_id = self.add_role({"id": role_id or None, "name": role.get("name")})["id"]
        profile = user.get("profile") or dict(STANDARD_PROFILE)
        now = self.iso(self.now())
        stored = {
            "id": uid,
            "zuid": str(user.get("zuid") or int(uid) % 100000000),
            "email": str(user.get("email") or f"user{uid[-6:]}@callsync-demo.com"),
            "full_name": full,
            "first_name": first,
            "last_name": last,
            "phone": user.get("phone"),
            "mobile": user.get("mobile"),
            "status": str(user.get("status") or "active"),
            "confirm": bool(user.get("confirm", True)),
            "role": {"name": self.roles[role_id]["name"], "id": role_id},
            "profile": {"name": str(profile.get("name")), "id": str(profile.get("id"))},
            "Reporting_To": user.get("Reporting_To"),
            "time_zone": str(user.get("time_zone") or ORG_TIME_ZONE),
            "locale": "en_US",
            "language": "en_US",
            "country_locale": "US",
            "created_time": now,
            "Modified_Time": now,
        }
        self.users[uid] = stored
        return stored

    # -- org settings ------------------------------------------------------------------------

    def add_deal_stage(self, stage: dict[str, Any]) -> PickValue:
        """Add (or, with the same actual value, replace) a Deal stage: ``actual_value`` and/or
        ``display_value``, ``forecast_type`` (``Open`` default, ``Closed Won``, ``Closed Lost``),
        ``probability``. Records may use it at once; the fields metadata lists it."""
        actual = str(stage.get("actual_value") or stage.get("display_value") or "").strip()
        if not actual:
            raise ValueError("a deal stage needs an actual_value or a display_value")
        value = deal_stage(
            actual,
            str(stage.get("forecast_type") or "Open"),
            stage.get("probability"),
            display=str(stage.get("display_value") or ""),
        )
        deals = self.modules["Deals"]
        field = deals.fields["Stage"]
        kept = tuple(v for v in field.pick_values if v.actual_value != actual)
        values = (*kept, value)
        deals.fields["Stage"] = replace(
            field, pick_values=values, pick_list=tuple(v.actual_value for v in values)
        )
        return value

    def set_business_hours(self, hours: dict[str, Any] | None) -> dict[str, Any] | None:
        """The org's Business Hours (Zoho's ``business_hours`` object; None clears them). Keys
        left out get Zoho's neutral values, so answers keep Zoho's shape."""
        if hours is None:
            self.business_hours = None
            return None
        kind = str(hours.get("type") or "custom")
        if kind not in ("24_by_7", "24_by_5", "custom"):
            raise ValueError(f"business hours type {kind!r} is not 24_by_7, 24_by_5 or custom")
        every_day = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        self.business_hours = {
            "id": str(hours.get("id") or self.new_id()),
            "week_starts_on": str(hours.get("week_starts_on") or "Monday"),
            "type": kind,
            "business_days": list(hours.get("business_days") or every_day),
            "same_as_everyday": hours.get("same_as_everyday", not hours.get("custom_timing")),
            "daily_timing": list(hours.get("daily_timing") or []),
            "custom_timing": list(hours.get("custom_timing") or []),
        }
        return self.business_hours

    def minified_user(self, user_id: str | None) -> dict[str, Any] | None:
        """``{"name", "id", "email"}``, how records show Owner, Created_By and Modified_By."""
        if user_id is None:
            return None
        user = self.users.get(user_id)
        if user is None:
            return {"name": "", "id": user_id}
        return {"name": user["full_name"], "id": user["id"], "email": user["email"]}

    def active_user(self, user_id: str) -> bool:
        user = self.users.get(user_id)
        return user is not None and user["status"] == "active"

    # -- records -----------------------------------------------------------------------------

    def module(self, api_name: str) -> ModuleDef | None:
        return self.modules.get(api_name)

    def find(self, module: str, record_id: str) -> Record | None:
        return self.records.get(module, {}).get(record_id)

    def render(self, module: str, record: Record, fields: list[str] | None = None) -> Record:
        """A record as ``GET /crm/v8/{module}/{id}`` answers it: users and lookups expanded.

        With ``fields`` only those (plus ``id``) are given, as the list endpoint does.
        """
        mod = self.modules[module]
        names = ["id", *[f for f in fields if f != "id"]] if fields else list(mod.fields)
        out: Record = {}
        for name in names:
            fdef = mod.get(name)
            value = record.get(name)
            if fdef is None:
                if name in record:
                    out[name] = value
                continue
            if fdef.data_type == "ownerlookup":
                out[name] = self.minified_user(_lookup_id(value))
            elif fdef.data_type == "lookup":
                out[name] = self._render_lookup(fdef.lookup, value, record)
                if len(fdef.lookup) > 1:
                    out["$se_module"] = record.get("$se_module") if value else None
            elif fdef.data_type == "datetime":
                out[name] = self.wire_datetime(value)
            else:
                out[name] = value
        return out

    def _render_lookup(self, targets: tuple[str, ...], value: Any, record: Record) -> Any:
        target_id = _lookup_id(value)
        if target_id is None:
            return None
        module = str(record.get("$se_module") or targets[0]) if len(targets) > 1 else targets[0]
        target = self.find(module, target_id)
        name = record_name(module, target) if target is not None else ""
        return {"name": name, "id": target_id}

    def dump(self) -> dict[str, list[Record]]:
        return {m: [self.render(m, r) for r in self.records[m].values()] for m in DUMP_MODULES}


def _lookup_id(value: Any) -> str | None:
    if isinstance(value, dict):
        raw = value.get("id")
        return str(raw) if raw is not None else None
    if isinstance(value, str | int) and value != "":
        return str(value)
    return None
