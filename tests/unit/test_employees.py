"""The employee map (SPEC 4), including the decided auto-mapping of Zoho users by phone."""

from __future__ import annotations

from typing import Any

import pytest

from models.call import Call
from models.crm import ZohoUser
from models.settings import EmployeeEntry, ScenarioSettings, Settings
from tasks.calls import parse_row
from tasks.employees import EmployeeMap, find_user

ANNA = ZohoUser("u-anna", "anna@example.com", "Anna Ivanova", phone="+380509998877")
PETRO = ZohoUser("u-petro", "Petro@Example.com", "Petro Sh", mobile="067 555 44 33")
OLGA = ZohoUser("u-olga", "olga@example.com", "Olga K", phone="305")  # an extension
GONE = ZohoUser("u-gone", "gone@example.com", "Gone", active=False, phone="+380631110000")
USERS = (ANNA, PETRO, OLGA, GONE)

ENTRIES = (
    EmployeeEntry(
        zoho_user="anna@example.com",
        sip=["Anna_SIP"],
        numbers=["201", "+380 50 999 88 77"],
        ringostat_ids=["1001"],
    ),
    EmployeeEntry(zoho_user="u-petro", sip=["petro_sip"]),
)


def build(
    entries: tuple[EmployeeEntry, ...] = ENTRIES,
    users: tuple[ZohoUser, ...] = USERS,
    **scenario: Any,
) -> EmployeeMap:
    return EmployeeMap.build(entries, users, ScenarioSettings(**scenario))


def a_call(**fields: Any) -> Call:
    row = {
        "uniqueid": "x",
        "calldate": "2026-01-18 10:00:00",
        "call_type": "in",
        "disposition": "ANSWERED",
        "caller": "+380501112233",
        **fields,
    }
    result = parse_row(row, Settings())
    assert isinstance(result, Call)
    return result


@pytest.mark.parametrize(
    ("fields", "user"),
    [
        ({"connected_with": "anna_sip"}, "u-anna"),  # SIP login, any case
        ({"connected_with": "ANNA_SIP"}, "u-anna"),
        ({"connected_with": "201"}, "u-anna"),  # extension, exact text
        ({"connected_with": "1001"}, "u-anna"),  # Ringostat employee id
        ({"connected_with": "0509998877"}, "u-anna"),  # number by phone key, other format
        ({"employee_number": "380509998877"}, "u-anna"),
        ({"connected_with": "petro_sip"}, "u-petro"),  # entry names the user by id
        ({"connected_with": "+380675554433"}, "u-petro"),  # auto: Zoho user's mobile
        ({"connected_with": "305"}, "u-olga"),  # auto: Zoho user's extension
        ({"connected_with": "ghost_sip"}, None),
        ({"connected_with": "+380631110000"}, None),  # an inactive user is never mapped
        ({}, None),
        # lookup order: connected_with first, then employee_number
        ({"connected_with": "petro_sip", "employee_number": "201"}, "u-petro"),
        ({"connected_with": "ghost", "employee_number": "201"}, "u-anna"),
        # outbound: the SIP login inside caller comes last
        ({"call_type": "out", "dst": "+380501112233", "caller": '"A" <anna_sip>'}, "u-anna"),
        (
            {
                "call_type": "out",
                "dst": "+380501112233",
                "caller": '"A" <anna_sip>',
                "connected_with": "petro_sip",
            },
            "u-petro",
        ),
    ],
)
def test_resolve(fields: dict[str, Any], user: str | None) -> None:
    found = build().resolve(a_call(**fields))
    assert (found.id if found else None) == user


@pytest.mark.parametrize(
    "form",
    [
        "anna_sip",
        "sip:anna_sip@pbx.example",
        "sips:anna_sip@pbx.example",
        '"Anna Ivanova" <anna_sip>',
        '"Anna Ivanova" <sip:anna_sip@pbx.example>',
        "anna_sip@pbx.example",
    ],
)
@pytest.mark.parametrize("field", ["connected_with", "employee_number"])
def test_every_sip_form_is_recognised_in_every_employee_field(form: str, field: str) -> None:
    # SPEC 4: the SIP login is recognised in connected_with as well as in caller
    found = build().resolve(a_call(**{field: form}))
    assert found is not None and found.id == "u-anna"
    out = build().resolve(a_call(call_type="out", dst="+380501112233", caller=form))
    assert out is not None and out.id == "u-anna"


@pytest.mark.parametrize(
    "configured", ["sip:petro_sip@pbx.example", '"Petro" <petro_sip>', " petro_sip "]
)
def test_sip_logins_in_the_config_may_be_written_in_any_form(configured: str) -> None:
    emap = build((EmployeeEntry(zoho_user="u-petro", sip=[configured]),))
    for form in ("petro_sip", "sip:petro_sip@other.pbx", '"P" <petro_sip>'):
        found = emap.resolve(a_call(connected_with=form))
        assert found is not None and found.id == "u-petro"
    # looked up one identifier at a time too (the webhook receiver does)
    assert emap.resolve_ident("<sip:petro_sip@pbx>") is not None


def test_entries_naming_unknown_or_inactive_users_are_ignored_and_reported() -> None:
    entries = (
        EmployeeEntry(zoho_user="nobody@example.com", sip=["x_sip"]),
        EmployeeEntry(zoho_user="gone@example.com", sip=["gone_sip"]),
        *ENTRIES,
    )
    emap = build(entries)
    assert emap.problems == [
        "employee entry 'nobody@example.com' names no Zoho user (by id or email): "
        "its calls are handled as unmapped",
        "employee entry 'gone@example.com' names an inactive Zoho user (by id or email): "
        "its calls are handled as unmapped",
    ]
    assert emap.unknown_entries == ("nobody@example.com", "gone@example.com")
    assert build().unknown_entries == ()
    assert emap.resolve(a_call(connected_with="gone_sip")) is None
    assert emap.resolve(a_call(connected_with="x_sip")) is None


def test_explicit_entries_win_over_auto_mapping() -> None:
    # Petro's Zoho mobile is listed explicitly for Anna: the explicit entry wins.
    entries = (EmployeeEntry(zoho_user="anna@example.com", numbers=["+380675554433", "305"]),)
    emap = build(entries)
    found = emap.resolve(a_call(connected_with="0675554433"))
    assert found is not None and found.id == "u-anna"
    found = emap.resolve(a_call(connected_with="305"))
    assert found is not None and found.id == "u-anna"


def test_auto_mapping_can_be_switched_off() -> None:
    emap = build(auto_map_users=False)
    assert emap.resolve(a_call(connected_with="+380675554433")) is None
    assert emap.resolve(a_call(connected_with="305")) is None
    found = emap.resolve(a_call(connected_with="anna_sip"))
    assert found is not None and found.id == "u-anna"


def test_identifier_claimed_twice_keeps_the_first_and_is_reported() -> None:
    entries = (
        EmployeeEntry(zoho_user="anna@example.com", sip=["shared"]),
        EmployeeEntry(zoho_user="u-petro", sip=["Shared"]),
    )
    emap = build(entries)
    found = emap.resolve(a_call(connected_with="shared"))
    assert found is not None and found.id == "u-anna"
    assert any("'Shared'" in p for p in emap.problems)


def test_users_sharing_a_phone_are_not_auto_mapped() -> None:
    twin = ZohoUser("u-twin", "twin@example.com", "Twin", phone="+380509998877")
    emap = build((), (ANNA, twin))
    assert emap.resolve(a_call(connected_with="+380509998877")) is None
    assert emap.problems == ["Zoho users share the phone ***8877; it is not auto-mapped"]


def test_zoho_users_phones_typed_with_words_are_auto_mapped() -> None:
    typed = ZohoUser("u-ira", "ira@example.com", "Iryna", phone="+380 63 999 00 11 (work), 305")
    emap = build((), (typed,))
    for ident in ("0639990011", "+380639990011"):
        found = emap.resolve(a_call(connected_with=ident))
        assert found is not None and found.id == "u-ira"


def test_phone_keys_cover_explicit_and_automatic_numbers() -> None:
    assert build().phone_keys == frozenset({"509998877", "675554433"})


def test_find_user_by_id_or_email() -> None:
    assert find_user("petro@example.com", USERS) is PETRO
    assert find_user(" u-olga ", USERS) is OLGA
    assert find_user("nobody", USERS) is None
