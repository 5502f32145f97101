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

ENV_PREFIX = "CALLSYNC_"
CONFIG_ENV = "CALLSYNC_CONFIG"
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


class ZohoSettings(_Section):
    accounts_url: str = "https://accounts.zoho.eu"
    api_domain: str = "https://www.zohoapis.eu"
    client_id: SecretStr = SecretStr("")
    client_secret: SecretStr = SecretStr("")
    refresh_token: SecretStr = SecretStr("")
    max_concurrency: int = Field(default=5, ge=1, le=25)
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=20)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    trigger_workflows: bool = False
    """Run the org's workflow rules on callsync's inserts (Zoho's ``trigger``)."""

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


OwnerRule = Literal["employee", "responsible", "top"]
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

    _tz = field_validator("company_timezone")(classmethod(lambda cls, v: _check_timezone(v)))

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter ISO country code such as 'UA'")
        return value.upper()

    @field_validator("rows")
    @classmethod
    def _row_numbers(cls, value: dict[int, RowOverride]) -> dict[int, RowOverride]:
        bad = sorted(n for n in value if not 1 <= n <= 13)
        if bad:
            raise ValueError(f"matrix rows are numbered 1..13, got {bad}")
        return value


class EmployeeEntry(_Section):
    """Links a Zoho user to the identifiers Ringostat puts on a call."""

    zoho_user: str
    sip: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    ringostat_ids: tuple[str, ...] = ()


class StoreSettings(_Section):
    url: str = "sqlite:///.callsync/state.db"
    duckdb_path: str = ".callsync/reports.duckdb"
    data_docs_dir: str = ".callsync/data_docs"


class Settings(BaseSettings):
    """The whole configuration (SPEC section 11)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    zoho: ZohoSettings = ZohoSettings()
    ringostat: RingostatSettings = RingostatSettings()
    scenario: ScenarioSettings = ScenarioSettings()
    employees: tuple[EmployeeEntry, ...] = ()
    store: StoreSettings = StoreSettings()

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
    if overrides:
        data = _deep_merge(data, overrides)
    _check_env_keys(os.environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        source = str(path) if path is not None else "environment"
        raise ConfigError(_format_error(exc, source)) from None


_SECTIONS = {"ZOHO", "RINGOSTAT", "SCENARIO", "EMPLOYEES", "STORE"}


def _check_env_keys(env: Mapping[str, str]) -> None:
    """pydantic-settings ignores unknown variables; a typo must not be silently ignored."""
    for name in env:
        if not name.startswith(ENV_PREFIX) or name in (CONFIG_ENV, STEP_RETRY_DELAYS_ENV):
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
