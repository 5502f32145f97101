"""The emulated org's metadata: modules and their fields, as Zoho CRM v8 defines them.

The default org is what ``POST /__emulator__/reset`` restores: the standard modules callsync
touches (Leads, Contacts, Deals, Tasks, Calls; Accounts exists because standard lookups point at
it) with their standard fields, plus the custom fields Ringostat's setup asks admins to create and
callsync's idempotency key ``rs_sync_key`` (unique, on Leads, Tasks and Calls).

Field ``data_type`` values are Zoho's own (``text``, ``phone``, ``email``, ``picklist``, ``lookup``,
``ownerlookup``, ``datetime``, ``date``, ``boolean``, ``integer``, ``currency``, ``textarea``,
``website``, ``event_reminder``); validation and COQL both read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Text fields take at most 255 characters, phone fields 30, text areas 32,000 (Zoho defaults).
TEXT_LENGTH = 255
PHONE_LENGTH = 30
TEXTAREA_LENGTH = 32000

#: Modules that exist in every org; ``dump`` lists these five (Accounts is only a lookup target).
DUMP_MODULES: tuple[str, ...] = ("Leads", "Contacts", "Deals", "Tasks", "Calls")
#: Upsert is not available for activities.
NO_UPSERT_MODULES = frozenset({"Tasks", "Calls", "Events"})

UTM_FIELDS: tuple[str, ...] = (
    "rs_utm_source",
    "rs_utm_medium",
    "rs_utm_campaign",
    "rs_utm_term",
    "rs_utm_content",
    "rs_google_client_id",
)
SYNC_KEY = "rs_sync_key"

TASK_STATUSES = ("Not Started", "Deferred", "In Progress", "Completed", "Waiting for input")
TASK_PRIORITIES = ("Highest", "High", "Normal", "Low", "Lowest")


@dataclass(frozen=True, slots=True)
class PickValue:
    """One picklist option with what Zoho's metadata says about it.

    ``actual_value`` is what the API stores and accepts, ``display_value`` what users see (Zoho
    lets them differ: the default stage "Closed-Lost to Competition" is stored as "Closed Lost
    to Competition"). Deal stages also carry ``forecast_type`` (``Open``, ``Closed Won``,
    ``Closed Lost``: Zoho's "deal category", which decides whether a deal is open, won or lost),
    their default ``probability`` and ``forecast_category``.
    """

    actual_value: str
    display_value: str = ""
    forecast_type: str | None = None
    probability: int | None = None
    forecast_category: str | None = None

    @property
    def label(self) -> str:
        return self.display_value or self.actual_value


FORECAST_TYPES = ("Open", "Closed Won", "Closed Lost")
#: The forecast category Zoho ties to each deal category (open deals may use others).
FORECAST_CATEGORY = {"Open": "Pipeline", "Closed Won": "Closed", "Closed Lost": "Omitted"}


def deal_stage(
    actual: str, forecast_type: str = "Open", probability: int | None = None, display: str = ""
) -> PickValue:
    if forecast_type not in FORECAST_TYPES:
        raise ValueError(f"forecast_type {forecast_type!r} is not one of {FORECAST_TYPES}")
    if probability is None:
        probability = {"Closed Won": 100, "Closed Lost": 0}.get(forecast_type, 50)
    return PickValue(
        actual_value=actual,
        display_value=display or actual,
        forecast_type=forecast_type,
        probability=probability,
        forecast_category=FORECAST_CATEGORY[forecast_type],
    )


#: A new Zoho org's Deal stages, in order (Zoho's Standard pipeline).
DEFAULT_DEAL_STAGES: tuple[PickValue, ...] = (
    deal_stage("Qualification", "Open", 10),
    deal_stage("Needs Analysis", "Open", 20),
    deal_stage("Value Proposition", "Open", 40),
    deal_stage("Id. Decision Makers", "Open", 60, display="Identify Decision Makers"),
    deal_stage("Proposal/Price Quote", "Open", 75),
    deal_stage("Negotiation/Review", "Open", 90),
    deal_stage("Closed Won", "Closed Won", 100),
    deal_stage("Closed Lost", "Closed Lost", 0),
    deal_stage(
        "Closed Lost to Competition", "Closed Lost", 0, display="Closed-Lost to Competition"
    ),
)
DEAL_STAGES = tuple(v.actual_value for v in DEFAULT_DEAL_STAGES)
CALL_TYPES = ("Inbound", "Outbound", "Missed")
LEAD_STATUSES = (
    "Attempted to Contact",
    "Contact in Future",
    "Contacted",
    "Junk Lead",
    "Lost Lead",
    "Not Contacted",
    "Pre-Qualified",
    "Not Qualified",
)
LEAD_SOURCES = (
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Sales Email Alias",
    "Seminar Partner",
    "Internal Seminar",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
)


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of a module.

    ``lookup`` names the target module(s): one for a plain lookup, several for ``What_Id``-style
    multi-module lookups whose record carries ``$se_module``. ``read_only`` fields are set by the
    system and ignored on write, as Zoho does.
    """

    api_name: str
    data_type: str
    label: str = ""
    length: int = TEXT_LENGTH
    mandatory: bool = False
    unique: bool = False
    custom: bool = False
    read_only: bool = False
    pick_list: tuple[str, ...] = ()
    restricted: bool = True
    lookup: tuple[str, ...] = ()
    pick_values: tuple[PickValue, ...] = ()
    """Details of the options (Deal stages); when given, ``pick_list`` is their actual values."""

    def allows(self, value: str) -> bool:
        """A picklist value Zoho accepts: an option's actual value, or its display value."""
        return value in self.pick_list or any(v.label == value for v in self.pick_values)

    @property
    def display_label(self) -> str:
        return self.label or self.api_name.replace("_", " ")


@dataclass(frozen=True, slots=True)
class ModuleDef:
    """A module: API name, Zoho's module id, and its fields by API name (in layout order)."""

    api_name: str
    id: str
    singular: str
    fields: dict[str, FieldDef] = field(default_factory=dict)

    def get(self, api_name: str) -> FieldDef | None:
        return self.fields.get(api_name)

    def unique_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.unique]

    def mandatory_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.mandatory]

    def fields_of_type(self, *data_types: str) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.data_type in data_types]


def _system_fields() -> list[FieldDef]:
    return [
        FieldDef("id", "bigint", "Record Id", length=19, read_only=True),
        FieldDef("Owner", "ownerlookup", "Owner", length=120),
        FieldDef("Created_By", "ownerlookup", "Created By", length=120, read_only=True),
        FieldDef("Modified_By", "ownerlookup", "Modified By", length=120, read_only=True),
        FieldDef("Created_Time", "datetime", "Created Time", length=120, read_only=True),
        FieldDef("Modified_Time", "datetime", "Modified Time", length=120, read_only=True),
    ]


def _custom(names: tuple[str, ...]) -> list[FieldDef]:
    return [FieldDef(n, "text", custom=True) for n in names]


def _sync_key() -> FieldDef:
    return FieldDef(SYNC_KEY, "text", "rs sync key", unique=True, custom=True)


def _module(api_name: str, module_id: str, singular: str, fields: list[FieldDef]) -> ModuleDef:
    return ModuleDef(api_name, module_id, singular, {f.api_name: f for f in fields})


def default_modules() -> dict[str, ModuleDef]:
    """A fresh copy of the default org's module metadata."""
    sysf = _system_fields
    leads = _module(
        "Leads",
        "5843104000000002175",
        "Lead",
        [
            *sysf(),
            FieldDef("First_Name", "text", length=40),
            FieldDef("Last_Name", "text", length=80, mandatory=True),
            FieldDef("Full_Name", "text", read_only=True),
            FieldDef("Company", "text", length=200),
            FieldDef("Phone", "phone", length=PHONE_LENGTH),
            FieldDef("Mobile", "phone", length=PHONE_LENGTH),
            FieldDef("Email", "email", length=100),
            FieldDef("Lead_Source", "picklist", pick_list=LEAD_SOURCES, restricted=False),
            FieldDef("Lead_Status", "picklist", pick_list=LEAD_STATUSES),
            FieldDef("Description", "textarea", length=TEXTAREA_LENGTH),
            FieldDef("Converted__s", "boolean", "Converted", read_only=True),
            FieldDef("Converted_Contact", "lookup", lookup=("Contacts",), read_only=True),
            FieldDef("Converted_Deal", "lookup", lookup=("Deals",), read_only=True),
            FieldDef("Converted_Account", "lookup", lookup=("Accounts",), read_only=True),
            FieldDef("Converted_Date_Time", "datetime", read_only=True),
            *_custom(UTM_FIELDS),
            _sync_key(),
        ],
    )
    contacts = _module(
        "Contacts",
        "5843104000000002179",
        "Contact",
        [
            *sysf(),
            FieldDef("First_Name", "text", length=40),
            FieldDef("Last_Name", "text", length=80, mandatory=True),
            FieldDef("Full_Name", "text", read_only=True),
            FieldDef("Phone", "phone", length=PHONE_LENGTH),
            FieldDef("Mobile", "phone", length=PHONE_LENGTH),
            FieldDef("Home_Phone", "phone", length=PHONE_LENGTH),
            FieldDef("Other_Phone", "phone", length=PHONE_LENGTH),
            FieldDef("Email", "email", length=100),
            FieldDef("Account_Name", "lookup", lookup=("Accounts",)),
            FieldDef("Lead_Source", "picklist", pick_list=LEAD_SOURCES, restricted=False),
            FieldDef("Description", "textarea", length=TEXTAREA_LENGTH),
            *_custom(UTM_FIELDS),
        ],
    )
    deals = _module(
        "Deals",
        "5843104000000002181",
        "Deal",
        [
            *sysf(),
            FieldDef("Deal_Name", "text", length=120, mandatory=True),
            FieldDef(
                "Stage",
                "picklist",
                mandatory=True,
                pick_list=DEAL_STAGES,
                pick_values=DEFAULT_DEAL_STAGES,
            ),
            FieldDef("Contact_Name", "lookup", lookup=("Contacts",)),
            FieldDef("Account_Name", "lookup", lookup=("Accounts",)),
            FieldDef("Closing_Date", "date"),
            FieldDef("Amount", "currency", length=16),
            FieldDef("Lead_Source", "picklist", pick_list=LEAD_SOURCES, restricted=False),
            FieldDef("Description", "textarea", length=TEXTAREA_LENGTH),
            *_custom(UTM_FIELDS),
        ],
    )
    tasks = _module(
        "Tasks",
        "5843104000000002193",
        "Task",
        [
            *sysf(),
            FieldDef("Subject", "text", mandatory=True),
            FieldDef("Status", "picklist", pick_list=TASK_STATUSES),
            FieldDef("Priority", "picklist", pick_list=TASK_PRIORITIES),
            FieldDef("Due_Date", "date"),
            FieldDef("Remind_At", "event_reminder"),
            FieldDef("What_Id", "lookup", "Related To", lookup=("Leads", "Deals", "Accounts")),
            FieldDef("Who_Id", "lookup", "Contact Name", lookup=("Contacts",)),
            FieldDef("Description", "textarea", length=TEXTAREA_LENGTH),
            FieldDef("Closed_Time", "datetime", read_only=True),
            _sync_key(),
        ],
    )
    calls = _module(
        "Calls",
        "5843104000000002197",
        "Call",
        [
            *sysf(),
            FieldDef("Subject", "text", mandatory=True),
            FieldDef("Call_Type", "picklist", mandatory=True, pick_list=CALL_TYPES),
            FieldDef("Call_Start_Time", "datetime", mandatory=True),
            FieldDef("Call_Duration", "text", length=10, mandatory=True),
            FieldDef("Call_Duration_in_seconds", "integer", length=10, read_only=True),
            FieldDef("Call_Result", "text"),
            FieldDef("Voice_Recording__s", "website", length=TEXT_LENGTH),
            FieldDef("What_Id", "lookup", "Related To", lookup=("Leads", "Deals", "Accounts")),
            FieldDef("Who_Id", "lookup", "Contact Name", lookup=("Contacts",)),
            FieldDef("Description", "textarea", length=TEXTAREA_LENGTH),
            _sync_key(),
        ],
    )
    accounts = _module(
        "Accounts",
        "5843104000000002177",
        "Account",
        [
            *sysf(),
            FieldDef("Account_Name", "text", length=200, mandatory=True, unique=True),
            FieldDef("Phone", "phone", length=PHONE_LENGTH),
            FieldDef("Description", "textarea", length=TEXTAREA_LENGTH),
        ],
    )
    return {m.api_name: m for m in (leads, contacts, deals, tasks, calls, accounts)}


def record_name(module: str, record: dict[str, object]) -> str:
    """The display name Zoho shows for a record in lookups (``{"name", "id"}``)."""
    if module in ("Leads", "Contacts"):
        parts = [record.get("First_Name"), record.get("Last_Name")]
        return " ".join(str(p) for p in parts if p)
    key = {
        "Deals": "Deal_Name",
        "Accounts": "Account_Name",
        "Tasks": "Subject",
        "Calls": "Subject",
    }.get(module, "id")
    value = record.get(key)
    return str(value) if value is not None else ""
