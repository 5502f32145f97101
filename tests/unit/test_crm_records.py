"""Zoho wire shapes → ZohoUser / CrmRecord."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from models.settings import ScenarioSettings
from tasks.crm_records import (
    EPOCH,
    RecordShapeError,
    lookup_id,
    parse_zoho_datetime,
    phone_fields_without_number,
    record_from_zoho,
    user_from_zoho,
)

SC = ScenarioSettings()


def test_user_from_zoho_users_api_item() -> None:
    user = user_from_zoho(
        {
            "id": "4150868000000225013",
            "email": "anna@example.com",
            "full_name": "Anna Ivanova",
            "first_name": "Anna",
            "last_name": "Ivanova",
            "phone": "+380501112233",
            "mobile": None,
            "status": "active",
            "role": {"name": "Manager", "id": "4150868000000026008"},
            "profile": {"name": "Standard", "id": "1"},
        }
    )
    assert user.id == "4150868000000225013"
    assert user.email == "anna@example.com"
    assert user.full_name == "Anna Ivanova"
    assert user.active is True
    assert user.phone == "+380501112233" and user.mobile is None
    assert user.role == "Manager"


@pytest.mark.parametrize(
    ("status", "active"),
    [("active", True), ("Active", True), ("disabled", False), ("deleted", False), (None, False)],
)
def test_user_status(status: str | None, active: bool) -> None:
    assert user_from_zoho({"id": 1, "email": "x@example.com", "status": status}).active is active


def test_user_without_full_name_and_numeric_id() -> None:
    user = user_from_zoho({"id": 42, "first_name": "Petro", "last_name": "Sh", "status": "active"})
    assert (user.id, user.full_name, user.email) == ("42", "Petro Sh", "")


def test_user_without_id_is_rejected() -> None:
    with pytest.raises(RecordShapeError):
        user_from_zoho({"email": "x@example.com"})


def test_lead_from_get_shape() -> None:
    rec = record_from_zoho(
        "Leads",
        {
            "id": "L1",
            "Owner": {"id": "u1", "name": "Anna", "email": "anna@example.com"},
            "Last_Name": "Client",
            "First_Name": "Good",
            "Phone": "+380 50 111 22 33",
            "Mobile": "0671112233",
            "Converted__s": False,
            "Modified_Time": "2026-01-18T12:45:00+02:00",
            "rs_utm_source": "google",
            "rs_utm_medium": "",
            "rs_google_client_id": "GA1.2.3",
        },
        SC,
    )
    assert rec.module == "Leads" and rec.id == "L1" and rec.owner_id == "u1"
    assert [p.e164 for p in rec.phones] == ["+380501112233", "+380671112233"]
    assert rec.converted is False
    assert rec.modified_time == datetime(2026, 1, 18, 10, 45, tzinfo=UTC)
    assert rec.modified_time.utcoffset() == timedelta(hours=2)
    assert rec.utm == {"rs_utm_source": "google", "rs_google_client_id": "GA1.2.3"}
    assert rec.name == "Good Client"


@pytest.mark.parametrize(
    ("value", "converted"), [(True, True), ("true", True), (False, False), ("false", False)]
)
def test_lead_converted_flag_from_get_or_coql(value: object, converted: bool) -> None:
    data = {"id": "L1", "Owner": "u1", "Converted__s": value}
    assert record_from_zoho("Leads", data, SC).converted is converted


def test_contact_phone_fields_and_duplicates() -> None:
    rec = record_from_zoho(
        "Contacts",
        {
            "id": 77,
            "Owner": {"id": 5},
            "Full_Name": "Iryna K",
            "Phone": "+380931112233",
            "Mobile": "093 111 22 33",  # the same number: kept once
            "Home_Phone": "anonymous",
            "Other_Phone": "+48 661 234 567",
            "Modified_Time": "2026-01-18T10:00:00Z",
        },
        SC,
    )
    assert (rec.id, rec.owner_id, rec.name) == ("77", "5", "Iryna K")
    assert [p.e164 for p in rec.phones] == ["+380931112233", "+48661234567"]
    assert rec.converted is False and rec.stage is None and rec.contact_id is None


def test_every_number_typed_into_a_phone_field_is_a_key() -> None:
    # SPEC 3 (decided): phone fields as people type them
    rec = record_from_zoho(
        "Contacts",
        {
            "id": "C-1",
            "Owner": {"id": "5"},
            "Phone": "067 111 22 99, 050 111 22 98",
            "Mobile": "+380 67 111 22 77 (viber)",
            "Home_Phone": "tel. 050-111-22-33 ext 5",
            "Other_Phone": "ask Anna",
        },
        SC,
    )
    assert [p.e164 for p in rec.phones] == [
        "+380671112299",
        "+380501112298",
        "+380671112277",
        "+380501112233",
    ]
    assert {p.key for p in rec.phones} == {"671112299", "501112298", "671112277", "501112233"}


def test_phone_fields_without_number() -> None:
    data = {"Phone": "n/a", "Mobile": "067 111 22 99 (old)", "Home_Phone": "", "Other_Phone": "12"}
    fields = ("Phone", "Mobile", "Home_Phone", "Other_Phone")
    assert phone_fields_without_number(data, fields, SC) == ["Phone", "Other_Phone"]
    assert phone_fields_without_number({"Phone": None}, fields, SC) == []


def test_phone_fields_are_configurable() -> None:
    sc = ScenarioSettings(contact_phone_fields=("Work_Phone",))
    data = {"id": "C", "Owner": "u", "Phone": "+380931112233", "Work_Phone": "+380671112233"}
    assert [p.e164 for p in record_from_zoho("Contacts", data, sc).phones] == ["+380671112233"]


def test_deal_shape() -> None:
    rec = record_from_zoho(
        "Deals",
        {
            "id": "D1",
            "Owner": {"id": "u2"},
            "Deal_Name": "Big one",
            "Stage": "Negotiation/Review",
            "Contact_Name": {"id": "C1", "name": "Iryna K"},
            "Phone": "+380931112233",  # ignored: a Deal matches through its Contact
            "Modified_Time": "2026-01-17T09:00:00+02:00",
        },
        SC,
    )
    assert (rec.stage, rec.contact_id, rec.name, rec.phones) == (
        "Negotiation/Review",
        "C1",
        "Big one",
        (),
    )
    assert rec.is_open_deal
    closed = record_from_zoho("Deals", {"id": "D2", "Owner": "u", "Stage": "Closed Won"}, SC)
    assert not closed.is_open_deal


def test_utm_fields_by_configured_api_names() -> None:
    sc = ScenarioSettings(utm_fields={"utm_source": "Source_UTM"})
    data = {"id": "L", "Owner": "u", "Source_UTM": "fb", "rs_utm_source": "ignored"}
    assert record_from_zoho("Leads", data, sc).utm == {"Source_UTM": "fb"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"Owner": "u"}, "without an id"),
        ({"id": "L"}, "without an Owner"),
        ({"id": "L", "Owner": {"name": "x"}}, "without an Owner"),
    ],
)
def test_records_missing_id_or_owner_are_rejected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordShapeError, match=message):
        record_from_zoho("Leads", data, SC)


def test_unsupported_module() -> None:
    with pytest.raises(RecordShapeError, match="unsupported module"):
        record_from_zoho("Tasks", {"id": "T", "Owner": "u"}, SC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-18T12:45:00+02:00", datetime(2026, 1, 18, 10, 45, tzinfo=UTC)),
        ("2026-01-18T10:45:00Z", datetime(2026, 1, 18, 10, 45, tzinfo=UTC)),
        ("2026-01-18T10:45:00", datetime(2026, 1, 18, 10, 45, tzinfo=UTC)),  # naive: UTC
        (datetime(2026, 1, 18, 12, 45, tzinfo=timezone(timedelta(hours=2))), None),
        (None, EPOCH),
        ("yesterday", EPOCH),
    ],
)
def test_parse_zoho_datetime(value: object, expected: datetime | None) -> None:
    parsed = parse_zoho_datetime(value)
    assert parsed.tzinfo is not None
    if expected is None:
        assert parsed == value
    else:
        assert parsed == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"id": "1", "name": "x"}, "1"), ("2", "2"), (3, "3"), (None, None), ({}, None), ("", None)],
)
def test_lookup_id(value: object, expected: str | None) -> None:
    assert lookup_id(value) == expected
