"""``callsync doctor``: check a live Zoho org before the first sync, and say how to fix each gap.

Checks, in order (each says what to do when it fails):

1. the refresh token mints an access token, and at which data centre;
2. users are readable (scope ``ZohoCRM.users.READ``), ``scenario.top_manager`` is an active user,
   and every ``[[employees]]`` entry names an active user (an entry that does not is a failure
   here, and a warning in every run summary); an empty employee map, or one that maps fewer
   than half of the active users besides the TOP manager, is a warning: the calls those users
   answer are written as unmapped (their leads and tasks go to the TOP manager);
3. roles are readable (``ZohoCRM.settings.roles.READ``);
4. the custom fields of SPEC 7 exist (``ZohoCRM.settings.fields.READ``): ``rs_sync_key`` marked
   unique on Leads and Tasks (and Calls when ``scenario.log_calls``), the UTM fields on Leads
   (and on Contacts and Deals in ``enrich_contacts_deals`` mode), the phone fields searched, and
   every field ``[scenario.field_map.Leads]`` / ``.Tasks`` maps a call field onto;
5. Leads, Contacts and Deals are readable (``ZohoCRM.modules.ALL``; writing is not tried: the
   doctor never changes the org);
6. the phone values of Leads and Contacts: how many records have a phone field that holds text
   but no number (``n/a``, ``ask Anna``), and how many of those hold no number at all, so that no
   call can ever match them (a count, not a failure: the data is the org's);
7. COQL works (``ZohoCRM.coql.READ``).

A refused token stops the run after check 1: every other check would fail the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
import httpx

from models.crm import ZohoUser
from models.settings import Settings
from tasks.crm_records import phone_fields_without_number, user_from_zoho
from tasks.employees import EmployeeMap
from tasks.scenario import TopManagerError, resolve_top_manager
from tasks.vendor.backoff import Sleep
from tasks.zoho.auth import Clock, data_centre
from tasks.zoho.client import ZohoClient, utc_now
from tasks.zoho.coql import is_not_null, select
from tasks.zoho.errors import AuthError, ZohoError

T = TypeVar("T")

SCOPES = (
    "ZohoCRM.modules.ALL",
    "ZohoCRM.users.READ",
    "ZohoCRM.settings.fields.READ",
    "ZohoCRM.settings.roles.READ",
    "ZohoCRM.coql.READ",
)
_NEW_TOKEN = (
    "generate a new refresh token (Zoho API console, self client) with the scopes "
    + ",".join(SCOPES)
    + " and set zoho.refresh_token / CALLSYNC_ZOHO__REFRESH_TOKEN"
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False
    """Passed, but with something the operator should look at (shown ``[warn]`` with its fix)."""


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def render(self) -> str:
        """Plain text, one line per check, a ``fix:`` line under each failure."""
        lines = []
        for check in self.checks:
            mark = "FAIL" if not check.ok else "warn" if check.warn else " ok "
            lines.append(f"[{mark}] {check.name}: {check.detail}")
            if (not check.ok or check.warn) and check.fix:
                lines.append(f"       fix: {check.fix}")
        passed = sum(c.ok for c in self.checks)
        verdict = "ready" if self.ok else "not ready"
        warned = sum(c.ok and c.warn for c in self.checks)
        if warned:
            verdict += f" ({warned} warning{'s' if warned > 1 else ''})"
        lines.append(f"{passed} of {len(self.checks)} checks passed: {verdict}")
        return "\n".join(lines)


def _scope_fix(scope: str, err: ZohoError) -> str:
    if isinstance(err, AuthError) or err.code in ("NO_PERMISSION", "OAUTH_SCOPE_MISMATCH"):
        return f"the token lacks {scope} (or the user lacks the permission): {_NEW_TOKEN}"
    return f"Zoho answered {err}; check the org (scope {scope}) and try again"


class _Doctor:
    def __init__(self, settings: Settings, client: ZohoClient) -> None:
        self.settings = settings
        self.client = client
        self.report = DoctorReport()

    def add(self, name: str, ok: bool, detail: str, fix: str = "", *, warn: bool = False) -> None:
        self.report.checks.append(Check(name, ok, detail, fix, warn))

    async def attempt(self, name: str, scope: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``call``; on a Zoho failure record a failed check naming the scope."""
        try:
            return await call()
        except ZohoError as err:
            self.add(name, False, str(err), _scope_fix(scope, err))
            return None

    async def token(self) -> bool:
        z = self.settings.zoho
        try:
            token = await self.client.access_token()
        except ZohoError as err:
            fix = (
                _NEW_TOKEN
                if isinstance(err, AuthError)
                else "check the network and zoho.accounts_url"
            )
            self.add("access token", False, str(err), fix)
            return False
        detail = (
            f"issued by {z.accounts_url} ({data_centre(z.accounts_url)}); "
            f"CRM calls go to {token.api_domain} ({data_centre(token.api_domain)})"
        )
        if token.api_domain != z.api_domain:
            detail += f"; the configured zoho.api_domain {z.api_domain} is not used"
        self.add("access token", True, detail)
        return True

    async def users(self) -> None:
        rows = await self.attempt(
            "users readable", "ZohoCRM.users.READ", lambda: self.client.users(active_only=False)
        )
        if rows is None:
            for name in ("TOP manager", "employee map"):
                self.add(name, False, "cannot be checked: users are not readable", "see above")
            return
        users = [user_from_zoho(u) for u in rows]
        active = sum(u.active for u in users)
        self.add("users readable", True, f"{len(users)} users, {active} active")
        self.top_manager(users)
        self.employees(users)

    def employees(self, users: Sequence[ZohoUser]) -> None:
        entries = self.settings.employees
        emap = EmployeeMap.build(entries, users, self.settings.scenario)
        if emap.unknown_entries:
            shown = ", ".join(repr(e) for e in emap.unknown_entries)
            self.add(
                "employee map",
                False,
                "; ".join(emap.problems),
                f"in [[employees]], set zoho_user of {shown} to the email or id of an active "
                "Zoho user (Setup > Users), or remove the entry",
            )
            return
        detail = (
            f"{len(entries)} [[employees]] entries, each names an active Zoho user"
            if entries
            else "no [[employees]] entries"
        )
        others = [u for u in users if u.active and u.id != self._top_id(users)]
        mapped = _mapped_user_ids(emap)
        unmapped = [u for u in others if u.id not in mapped]
        thin = bool(others) and len(unmapped) * 2 > len(others)
        if entries and not thin:
            self.add("employee map", True, "; ".join([detail, *emap.problems]))
            return
        shown = ", ".join(u.email or u.id for u in unmapped[:5]) + (
            ", ..." if len(unmapped) > 5 else ""
        )
        summary = (
            f"{len(others) - len(unmapped)} of {len(others)} active users besides the TOP "
            + ("manager are mapped" + (f" (not: {shown})" if unmapped else ""))
        )
        self.add(
            "employee map",
            True,
            "; ".join([detail, summary, *emap.problems]),
            "calls answered by an unmapped SIP login or number are written as unmapped: their "
            "leads and tasks go to the TOP manager. Add an [[employees]] entry (zoho_user, sip, "
            "numbers) for everyone who takes calls before a sync or backfill writes them",
            warn=True,
        )

    def _top_id(self, users: Sequence[ZohoUser]) -> str | None:
        try:
            return resolve_top_manager(self.settings.scenario, users).id
        except TopManagerError:
            return None

    def top_manager(self, users: Sequence[ZohoUser]) -> None:
        try:
            top = resolve_top_manager(self.settings.scenario, users)
        except TopManagerError as exc:
            emails = sorted(u.email for u in users if u.active and u.email)
            shown = ", ".join(emails[:5]) + (", ..." if len(emails) > 5 else "")
            fix = (
                "set scenario.top_manager (CALLSYNC_SCENARIO__TOP_MANAGER) to the email or id of "
                f"an active Zoho user ({shown or 'the org has none'})"
            )
            self.add("TOP manager", False, str(exc), fix)
            return
        self.add("TOP manager", True, f"{top.full_name} <{top.email}> (id {top.id}) is active")

    async def roles(self) -> None:
        roles = await self.attempt(
            "roles readable", "ZohoCRM.settings.roles.READ", self.client.roles
        )
        if roles is not None:
            top = [str(r.get("name")) for r in roles if r.get("reporting_to") is None]
            self.add("roles readable", True, f"{len(roles)} roles; top: {', '.join(top) or '-'}")

    def wanted_fields(self) -> dict[str, tuple[list[str], bool]]:
        """module → (custom fields that must exist, whether it carries the unique sync key)."""
        sc = self.settings.scenario
        utm = list(sc.utm_fields.model_dump().values())
        key = [sc.sync_key_field]
        mapped_leads, mapped_tasks = list(sc.field_map.Leads), list(sc.field_map.Tasks)
        wanted = {
            "Leads": (
                list(dict.fromkeys([*key, *utm, *sc.lead_phone_fields, *mapped_leads])),
                True,
            ),
            "Contacts": (list(sc.contact_phone_fields), False),
            "Tasks": ([*key, *(n for n in mapped_tasks if n not in key)], True),
        }
        if sc.log_calls:
            wanted["Calls"] = (key, True)
        if sc.mode == "enrich_contacts_deals":
            wanted["Contacts"] = ([*utm, *sc.contact_phone_fields], False)
            wanted["Deals"] = (utm, False)
        return wanted

    async def fields(self) -> None:
        key = self.settings.scenario.sync_key_field
        for module, (names, keyed) in self.wanted_fields().items():
            name = f"fields on {module}"
            rows = await self.attempt(
                name, "ZohoCRM.settings.fields.READ", partial(self.client.fields, module)
            )
            if rows is None:
                continue
            self._judge_fields(name, module, rows, names, key if keyed else None)

    def _judge_fields(
        self,
        name: str,
        module: str,
        rows: Iterable[Mapping[str, Any]],
        names: Sequence[str],
        key: str | None,
    ) -> None:
        by_name = {str(f.get("api_name")): f for f in rows}
        missing = [n for n in names if n not in by_name]
        problems = []
        fixes = []
        if missing:
            problems.append("missing " + ", ".join(missing))
            fixes.append(
                f"in Zoho Setup > Modules and Fields > {module}, add single-line fields with "
                f"these API names: {', '.join(missing)} (or set the field names in [scenario])"
            )
        if key and key in by_name and not by_name[key].get("unique"):
            problems.append(f"{key} is not unique")
            fixes.append(
                f"edit {module}.{key} and tick 'Do not allow duplicate values': it is what "
                "makes a repeated write answer DUPLICATE_DATA instead of creating a second record"
            )
        if problems:
            self.add(name, False, "; ".join(problems), "; ".join(fixes))
        else:
            unique = f" ({key} unique)" if key else ""
            self.add(name, True, f"{len(names)} fields present{unique}")

    async def modules(self) -> None:
        for module, probe in (
            ("Leads", "Last_Name"),
            ("Contacts", "Last_Name"),
            ("Deals", "Deal_Name"),
        ):
            name = f"{module} readable"
            rows = await self.attempt(
                name,
                "ZohoCRM.modules.ALL",
                partial(self.client.list_records, module, [probe], modified_since=None, limit=1),
            )
            if rows is not None:
                self.add(name, True, "records can be listed (writes are not tried)")

    async def phone_values(self) -> None:
        sc = self.settings.scenario
        for module, fields in (
            ("Leads", sc.lead_phone_fields),
            ("Contacts", sc.contact_phone_fields),
        ):
            name = f"phone values on {module}"
            rows = await self.attempt(
                name,
                "ZohoCRM.modules.ALL",
                partial(self.client.list_records, module, list(fields), modified_since=None),
            )
            if rows is None:
                continue
            self.add(name, True, _phone_values_detail(rows, fields, self.settings))

    async def coql(self) -> None:
        query = select("Leads", ["id"], is_not_null("id"), limit=1)
        answer = await self.attempt("COQL", "ZohoCRM.coql.READ", lambda: self.client.coql(query))
        if answer is not None:
            self.add("COQL", True, "queries run (needed for phone-suffix and sync-key lookups)")


def _mapped_user_ids(emap: EmployeeMap) -> set[str]:
    """Users some identifier maps to (an explicit entry, or their own Zoho phone)."""
    tables = (emap.by_text, emap.by_key, emap.auto_by_text, emap.auto_by_key)
    return {user.id for table in tables for user in table.values()}


def _phone_values_detail(
    rows: Sequence[Mapping[str, Any]], fields: Sequence[str], settings: Settings
) -> str:
    """``n records; k have a phone field with no number in it (…), j of them no number at all``."""
    sc = settings.scenario
    typed: list[str] = []  # records with a value that holds no number
    numberless: list[str] = []  # ... and no number in any phone field
    for row in rows:
        empty = phone_fields_without_number(row, tuple(fields), sc)
        if not empty:
            continue
        typed.append(str(row.get("id")))
        others = {f: row.get(f) for f in fields if f not in empty}
        if not phone_fields_without_number(others, tuple(others), sc) and not any(others.values()):
            numberless.append(str(row.get("id")))
    if not typed:
        return f"{len(rows)} records; every filled phone field holds a number"
    shown = ", ".join(numberless[:5] or typed[:5])
    more = ", ..." if len(numberless or typed) > 5 else ""
    return (
        f"{len(rows)} records; {len(typed)} have a phone field with no number in it, "
        f"{len(numberless)} of them no number at all (no call can match them; "
        f"e.g. ids {shown}{more})"
    )


async def run_doctor(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    sleep: Sleep = anyio.sleep,
    clock: Clock = utc_now,
) -> DoctorReport:
    """Check the org ``settings.zoho`` points at; never writes to it."""
    doctor = _Doctor(settings, ZohoClient(settings.zoho, http, sleep=sleep, clock=clock))
    if await doctor.token():
        await doctor.users()
        await doctor.roles()
        await doctor.fields()
        await doctor.modules()
        await doctor.phone_values()
        await doctor.coql()
    return doctor.report
