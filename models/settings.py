"""callsync settings: one object, built once at flow entry and passed down.

Sources, highest priority first:

1. environment variables ``CALLSYNC_<SECTION>__<KEY>`` (e.g. ``CALLSYNC_ZOHO__REFRESH_TOKEN``);
2. the TOML file named by ``--config`` or ``CALLSYNC_CONFIG``;
3. the defaults below.

Unknown keys and bad values fail with one message naming the key and what is expected
(:class:`ConfigError`). Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from models.hours import parse_hhmm

ENV_PREFIX = "CALLSYNC_"
CONFIG_ENV = "CALLSYNC_CONFIG"
TENANTS_DIR_ENV = "CALLSYNC_TENANTS_DIR"
"""The tenants directory (``--tenants-dir``): one config file per company (:mod:`models.tenants`)."""
STEP_RETRY_DELAYS_ENV = "CALLSYNC_STEP_RETRY_DELAYS_S"
"""Pauses before Prefect retries a failed step, e.g. ``10,60`` (read by :mod:`tasks.steps`)."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and what is expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Kyiv')") from exc
    return value


ZohoTrigger = Literal["workflow", "approval", "blueprint", "pathfinder", "orchestration"]
"""The automation Zoho's ``trigger`` can name (v8 API)."""


class ZohoSettings(_Section):
    accounts_url: str = "https://accounts.zoho.eu"
    api_domain: str = "https://www.zohoapis.eu"
    client_id: SecretStr = SecretStr("")
    client_secret: SecretStr = SecretStr("")
    refresh_token: SecretStr = SecretStr("")
    max_concurrency: int = Field(default=5, ge=1, le=25)
    """Requests in flight from one process."""
    org_max_concurrency: int = Field(default=5, ge=0, le=25)
    """Requests in flight from every process of this company together (sync runs on any worker,
    the webhook receiver, reports): Zoho's allowance for the org, 5 to 25 by edition (10 for
    "complex" calls). Shared through the state store; 0 switches the sharing off."""
    write_batch: int = Field(default=100, ge=1, le=100)
    """Records per write request (Zoho takes at most 100). Fewer, for an org whose workflows
    make large inserts time out; each request's answer is recorded as it arrives."""
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=20)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    trigger: tuple[ZohoTrigger, ...] | None = None
    """Zoho's ``trigger`` on every write: None (default) leaves it out, so Zoho runs the org's
    workflow rules, approvals and blueprints as for any integration (SPEC 7); ``[]`` runs none;
    ``["workflow"]`` only the workflow rules."""

    @field_validator("accounts_url", "api_domain")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


class RingostatSettings(_Section):
    base_url: str = "https://api.ringostat.net"
    auth_key: SecretStr = SecretStr("")
    timezone: str = "Europe/Kyiv"
    lookback_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    max_rows_per_request: int = Field(default=6500, ge=2)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    initial_lookback_hours: int = Field(default=24, ge=1)
    """Where the very first run starts when no cursor exists yet."""

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


OwnerRule = Literal["employee", "responsible", "top", "rotation"]
"""Who owns a lead or task a matrix row writes: ``employee`` (who took the call; TOP when
unmapped), ``responsible`` (the owner of the client's record when active, else TOP), ``top``
(the TOP manager), ``rotation`` (the ``[scenario.rotation]`` employees in turn)."""
TaskStatusRule = Literal["log", "open"]
TaskSlot = Literal["task", "task-responsible"]


class TaskAction(_Section):
    """One task a matrix row writes. ``log`` = Completed, ``open`` = Not Started with a deadline."""

    slot: TaskSlot = "task"
    status: TaskStatusRule
    owner: OwnerRule
    subject: str | None = None
    """Subject template; None picks the default for the call's outcome."""


class RowActions(_Section):
    """What one row of the scenario matrix (SPEC section 6) writes."""

    create_lead: bool = False
    lead_owner: OwnerRule = "top"
    tasks: tuple[TaskAction, ...] = ()
    skip_reason: str | None = None
    """When set, the row writes nothing and records this reason."""


class RowOverride(_Section):
    """A ``[scenario.rows.N]`` table: every key optional, unset keys keep the default."""

    create_lead: bool | None = None
    lead_owner: OwnerRule | None = None
    tasks: tuple[TaskAction, ...] | None = None
    skip_reason: str | None = None


class UtmFields(_Section):
    """Zoho field API names that receive the call's attribution."""

    utm_source: str = "rs_utm_source"
    utm_medium: str = "rs_utm_medium"
    utm_campaign: str = "rs_utm_campaign"
    utm_term: str = "rs_utm_term"
    utm_content: str = "rs_utm_content"
    client_id: str = "rs_google_client_id"


_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_WIRE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
LEAD_FIELDS_SET_BY_CALLSYNC = frozenset({"Owner", "Last_Name", "Phone"})
TASK_FIELDS_SET_BY_CALLSYNC = frozenset(
    {"Owner", "Subject", "Status", "What_Id", "Who_Id", "Due_Date", "Remind_At", "Description"}
)


class FieldMap(_Section):
    """``[scenario.field_map.Leads]`` / ``[scenario.field_map.Tasks]`` (SPEC 7, decided).

    Each table maps ``<Zoho field API name> = "<Ringostat field name>"`` (the name on the wire,
    e.g. ``landing``, ``refferrer``, ``department``): the call's value goes into that field of
    every lead (task) callsync creates. Empty values are omitted. A mapped field replaces what
    callsync would otherwise write there (e.g. a UTM field), except the fields that make the
    record what it is (owner, name, phone, subject, status, attachment, deadline, description,
    the sync key), which cannot be mapped.
    """

    Leads: dict[str, str] = Field(default_factory=dict)
    Tasks: dict[str, str] = Field(default_factory=dict)

    @field_validator("Leads", "Tasks")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for zoho_name, wire_name in value.items():
            if not _API_NAME.match(zoho_name):
                raise ValueError(f"{zoho_name!r} is not a Zoho field API name")
            if not _WIRE_NAME.match(wire_name.strip()):
                raise ValueError(
                    f"{zoho_name} = {wire_name!r}: name a Ringostat call field such as 'landing'"
                )
        return {k: v.strip() for k, v in value.items()}


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class BusinessHoursSettings(_Section):
    """``[scenario.business_hours]``: the company's working hours, in ``company_timezone``.

    When given, they win over Zoho's Business Hours settings (for orgs that have none, or whose
    call team keeps other hours). ``end`` may be ``"24:00"``; a shift past midnight is two
    entries' worth of hours and is not expressible here (use Zoho's custom timing instead).
    """

    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = "09:00"
    end: str = "18:00"

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(v).strip().lower()[:3] for v in value)
        return value

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one working day, e.g. ['mon', 'tue', 'wed']")
        return tuple(dict.fromkeys(value))

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_hhmm(value)
        return value.strip()

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHoursSettings:
        if parse_hhmm(self.start) >= parse_hhmm(self.end):
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class RotationSettings(_Section):
    """``[scenario.rotation]``: who takes call-backs in turn when a row's owner is ``rotation``.

    ``employees`` are Zoho users (id or email) in the order of the turn. The turn skips users who
    are inactive in Zoho and, at the moment the task is assigned, outside their working hours —
    their own ``[scenario.rotation.shifts."<user>"]`` (``days``, ``start``, ``end``) when given,
    else the company's working hours. The turn is kept in the state store, so it is fair over
    time, not only within one run.
    """

    employees: tuple[str, ...] = ()
    shifts: dict[str, BusinessHoursSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shifts_of_listed_employees(self) -> RotationSettings:
        listed = {e.strip().lower() for e in self.employees}
        stray = sorted(k for k in self.shifts if k.strip().lower() not in listed)
        if stray:
            raise ValueError(f"shifts for {stray}: list them in employees first")
        return self


class ScenarioSettings(_Section):
    mode: Literal["default", "enrich_leads", "enrich_contacts_deals"] = "default"
    top_manager: str = ""
    match_digits: int = Field(default=9, ge=6, le=15)
    default_region: str = "UA"
    strict_country_match: bool = True
    open_task_due_hours: float = Field(default=4, gt=0)
    company_timezone: str = "Europe/Kyiv"
    company_numbers: tuple[str, ...] = ()
    log_calls: bool = False
    auto_map_users: bool = True
    lead_source: str | None = None
    lead_name_template: str = "{phone}"
    utm_policy: Literal["first_touch", "last_touch"] = "first_touch"
    enrich_grace_minutes: int = Field(default=30, ge=0)
    enrich_fallback: Literal["create", "skip"] = "create"
    lead_phone_fields: tuple[str, ...] = ("Phone", "Mobile")
    contact_phone_fields: tuple[str, ...] = ("Phone", "Mobile", "Home_Phone", "Other_Phone")
    utm_fields: UtmFields = UtmFields()
    sync_key_field: str = "rs_sync_key"
    rows: dict[int, RowOverride] = Field(default_factory=dict)
    field_map: FieldMap = FieldMap()
    business_hours: BusinessHoursSettings | None = None
    """Working hours for deadlines and reminders; None (default) reads Zoho's Business Hours
    settings (none there: 24×7)."""
    rotation: RotationSettings = RotationSettings()
    merge_callbacks: bool = True
    """One open call-back per client: a further missed call or voicemail from a client who has
    an open call-back task written by callsync (rows 6–9, not Completed) writes no new task; a
    line for the call (its number among the client's calls, time, outcome, voicemail link) is
    added to that task's description."""
    complete_callbacks: bool = True
    """An answered inbound call from, or an answered outbound call to, a client with an open
    call-back task written by callsync completes that task, with a line saying who reached the
    client when."""
    inactive_owner: Literal["leave", "top"] = "top"
    """A client record (the lead, deal or contact a call is attached to) owned by a user who is
    no longer active in Zoho: ``top`` (default) hands the record to the TOP manager — an update of
    its ``Owner``, with its own sync key, and the TOP manager is the responsible manager for the
    call — ``leave`` keeps the owner (the call's tasks for the responsible manager still go to
    the TOP manager, since an inactive user can own nothing new).

    Why ``top``: a client who calls is live business, and a record whose owner cannot log in is
    in no active manager's views, so its next call-backs and follow-ups land on nobody; Zoho
    itself never moves such records when a user is deactivated. Only records a call reaches are
    moved, one visible write each. Orgs that move records with Zoho's own mass transfer, or
    whose assignment rules must decide, set ``leave``."""

    _tz = field_validator("company_timezone")(classmethod(lambda cls, v: _check_timezone(v)))

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter ISO country code such as 'UA'")
        return value.upper()

    @model_validator(mode="after")
    def _mapped_fields_callsync_sets(self) -> ScenarioSettings:
        for module, own in (
            ("Leads", LEAD_FIELDS_SET_BY_CALLSYNC),
            ("Tasks", TASK_FIELDS_SET_BY_CALLSYNC),
        ):
            taken = sorted(
                name
                for name in getattr(self.field_map, module)
                if name in own or name == self.sync_key_field
            )
            if taken:
                raise ValueError(
                    f"field_map.{module} cannot map {', '.join(taken)}: callsync sets "
                    "these fields itself"
                )
        return self

    @field_validator("rows")
    @classmethod
    def _row_numbers(cls, value: dict[int, RowOverride]) -> dict[int, RowOverride]:
        bad = sorted(n for n in value if not 1 <= n <= 13)
        if bad:
            raise ValueError(f"matrix rows are numbered 1..13, got {bad}")
        return value

    @model_validator(mode="after")
    def _rotation_has_employees(self) -> ScenarioSettings:
        using = sorted(
            n
            for n, row in self.rows.items()
            if row.lead_owner == "rotation" or any(t.owner == "rotation" for t in row.tasks or ())
        )
        if using and not self.rotation.employees:
            raise ValueError(
                f"rows {using} give work to the rotation, but [scenario.rotation] lists no "
                "employees"
            )
        return self


class EmployeeEntry(_Section):
    """Links a Zoho user to the identifiers Ringostat puts on a call."""

    zoho_user: str
    sip: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    ringostat_ids: tuple[str, ...] = ()


class StoreSettings(_Section):
    """Where callsync keeps its state. Relative paths (the SQLite file of ``url``,
    ``duckdb_path``, ``data_docs_dir``) are relative to the config file's directory; without a
    config file (environment and defaults only), to the current directory."""

    url: str = "sqlite:///.callsync/state.db"
    duckdb_path: str = ".callsync/reports.duckdb"
    data_docs_dir: str = ".callsync/data_docs"


class WebhookSettings(_Section):
    """The real-time receiver (SPEC 12): ``callsync listen`` and ``callsync serve``.

    ``params`` maps the parameter names chosen in Ringostat's webhook settings to the call log's
    own field names (``{ phone = "caller", sip = "connected_with" }``); the call log's names are
    always accepted as well. Without a ``token`` the receiver accepts nothing.
    """

    token: SecretStr = SecretStr("")
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    params: dict[str, str] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    index_refresh_s: float = Field(default=60.0, ge=0)
    """How often the receiver brings its copy of the phone index up to date, on a timer of its
    own, whether or not webhooks arrive (a point lookup in Zoho covers what changed in between)."""
    public_url: str | None = None
    """The receiver's address as Zoho can reach it (e.g. ``https://calls.example.com``). When
    set, the receiver subscribes to Zoho's notifications for Leads, Contacts and Deals and
    applies each change Zoho reports to its phone index at once (``<public_url>/zoho/notify``)."""

    store_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """How long storing a webhook may wait for the state store (another process holding its
    write lock) before the answer is 503."""
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long a connection may take to send a request's headers before it is closed."""
    body_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long a request's body may take to arrive before the answer is 408."""
    max_connections: int = Field(default=1000, ge=16, le=100_000)
    """Open connections at most (also kept below the process's open-file limit); past it, the
    oldest connection that has not sent a whole request is closed to make room."""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL that Zoho can reach")
        return value.strip().rstrip("/")


class PrefectSettings(_Section):
    """The installation's Prefect server (the one callsync starts when ``PREFECT_API_URL`` is
    not set) and the operator's alert.

    ``idle_stop_minutes``: the server stops after this long with no callsync process using it
    (``serve`` counts while it runs); 0 keeps it up. ``keep_days``: flow runs that ended longer
    ago are deleted, so its database stays small; 0 keeps them all. Both take effect when the
    server starts. ``alert_webhook_url`` (a secret: such URLs carry a token) or ``alert_block``
    (a notification block made in the UI, ``<block-type-slug>/<name>``, e.g. an e-mail block):
    where a run that fails or crashes is announced, by a Prefect automation that ``serve`` and
    ``callsync alerts`` create.
    """

    idle_stop_minutes: float = Field(default=60, ge=0)
    keep_days: float = Field(default=30, ge=0)
    alert_webhook_url: SecretStr = SecretStr("")
    alert_block: str = ""

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if text and not text.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return SecretStr(text)

    @field_validator("alert_block")
    @classmethod
    def _block_name(cls, value: str) -> str:
        text = value.strip()
        if text and not re.fullmatch(r"[a-z0-9-]+/[A-Za-z0-9_.-]+", text):
            raise ValueError(
                "name a notification block as '<block-type-slug>/<name>', e.g. 'slack-webhook/ops'"
            )
        return text

    @model_validator(mode="after")
    def _one_alert(self) -> PrefectSettings:
        if self.alert_block and self.alert_webhook_url.get_secret_value():
            raise ValueError("set alert_webhook_url or alert_block, not both")
        return self


class Settings(BaseSettings):
    """The whole configuration (SPEC section 11)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    tenant: str = "default"
    """Which company these settings are: the file's name in a tenants directory
    (:mod:`models.tenants`), ``default`` for a single config file. Never a key of a file."""
    zoho: ZohoSettings = ZohoSettings()
    ringostat: RingostatSettings = RingostatSettings()
    scenario: ScenarioSettings = ScenarioSettings()
    employees: tuple[EmployeeEntry, ...] = ()
    store: StoreSettings = StoreSettings()
    webhook: WebhookSettings = WebhookSettings()
    prefect: PrefectSettings = PrefectSettings()

    @model_validator(mode="after")
    def _unique_employees(self) -> Settings:
        seen: set[str] = set()
        for entry in self.employees:
            key = entry.zoho_user.lower()
            if key in seen:
                raise ValueError(f"employee {entry.zoho_user!r} is listed twice")
            seen.add(key)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # File values arrive as init kwargs (see load_settings); the environment wins over them.
        return (env_settings, init_settings)


def _format_error(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'")
        elif err["type"] == "missing":
            parts.append(f"missing key '{key}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"'{key}': {msg}")
    return f"invalid configuration ({source}): " + "; ".join(parts)


def refuse_tenant_key(data: Mapping[str, Any], path: str | Path | None) -> None:
    """``tenant`` is the name of a tenant's file, never a key in it."""
    if "tenant" in data:
        where = path if path is not None else "the configuration"
        raise ConfigError(
            f"invalid configuration ({where}): unknown key 'tenant' (a company's name is its "
            "file's name in a tenants directory: <tenants-dir>/<tenant>.toml)"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def load_settings(
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from a TOML file, the environment and optional overrides.

    ``path`` falls back to ``$CALLSYNC_CONFIG``; without either, only the environment and the
    defaults apply. ``overrides`` (nested dicts) replace file values, below the environment.
    Raises :class:`ConfigError` with one line naming each bad key.
    """
    if path is None and os.environ.get(CONFIG_ENV):
        path = os.environ[CONFIG_ENV]
    data: dict[str, Any] = _read_toml(Path(path)) if path is not None else {}
    refuse_tenant_key(data, path)
    if overrides:
        data = _deep_merge(data, overrides)
    _check_env_keys(os.environ)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        source = str(path) if path is not None else "environment"
        raise ConfigError(_format_error(exc, source)) from None
    if path is None:
        return settings
    return settings.model_copy(
        update={"store": resolve_store_paths(settings.store, Path(path).resolve().parent)}
    )


_SQLITE_URL = re.compile(r"^(sqlite(?:\+\w+)?:///)(.*)$")


def resolve_store_paths(store: StoreSettings, base: Path) -> StoreSettings:
    """The store's relative paths made absolute against ``base`` (the config file's directory):
    a run started from any directory, a deployment's worker included, uses the same files.
    Absolute paths, in-memory SQLite and other databases' URLs are left as they are."""

    def path(value: str) -> str:
        return value if not value or Path(value).is_absolute() else str(base / value)

    url = store.url
    if (match := _SQLITE_URL.match(url)) is not None:
        database, query = match.group(2).partition("?")[::2]
        if database and database != ":memory:" and not Path(database).is_absolute():
            url = match.group(1) + str(base / database) + (f"?{query}" if query else "")
    return store.model_copy(
        update={
            "url": url,
            "duckdb_path": path(store.duckdb_path),
            "data_docs_dir": path(store.data_docs_dir),
        }
    )


_SECTIONS = {"ZOHO", "RINGOSTAT", "SCENARIO", "EMPLOYEES", "STORE", "WEBHOOK", "PREFECT"}


def _check_env_keys(env: Mapping[str, str]) -> None:
    """pydantic-settings ignores unknown variables; a typo must not be silently ignored."""
    for name in env:
        if not name.startswith(ENV_PREFIX) or name in (
            CONFIG_ENV,
            STEP_RETRY_DELAYS_ENV,
            TENANTS_DIR_ENV,
        ):
            continue
        rest = name[len(ENV_PREFIX) :]
        section, _, key = rest.partition("__")
        if section not in _SECTIONS:
            raise ConfigError(
                f"unknown environment variable {name}: sections are "
                + ", ".join(sorted(s.lower() for s in _SECTIONS))
            )
        model = Settings.model_fields[section.lower()].annotation
        fields = getattr(model, "model_fields", None)
        top_key = key.partition("__")[0].lower()
        if fields is not None and top_key and top_key not in fields:
            raise ConfigError(
                f"unknown environment variable {name}: no key '{top_key}' in [{section.lower()}]"
            )


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
