"""Reading Zoho's org settings: closed Deal stages and business hours (pure), and the client's
fallback when the org does not let callsync read them."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from test_zoho_client import error, make

from models.crm import ZOHO_DEFAULT_CLOSED_STAGES
from models.hours import WorkingHours
from tasks.zoho.org_settings import OrgSettingsError, closed_stages, working_hours


def stage_field(*values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"api_name": "Deal_Name"}, {"api_name": "Stage", "pick_list_values": list(values)}]


def option(name: str, **meta: Any) -> dict[str, Any]:
    return {"display_value": name, "actual_value": meta.pop("actual", name), **meta}


@pytest.mark.parametrize(
    ("values", "closed"),
    [
        # the deal category decides (forecast_type, or deal_category as newer answers call it)
        ([option("Negotiation", forecast_type="Open"), option("Won big", forecast_type="Closed Won")], {"Won big"}),
        ([option("Gone", deal_category="Closed Lost"), option("Open one", deal_category="Open")], {"Gone"}),
        # both names of a stage whose label differs from its API value
        ([option("Closed-Lost to Competition", actual="Closed Lost to Competition", forecast_type="Closed Lost")],
         {"Closed-Lost to Competition", "Closed Lost to Competition"}),
        # a stage renamed "Closed Lost" but open in this org is open
        ([option("Closed Lost", forecast_type="Open")], set()),
        # no category: the forecast category (Closed, Omitted are closed deals'); then the names
        ([option("Signed", forecast_category={"name": "Closed", "id": "1"}),
          option("Dropped", forecast_category={"name": "Omitted", "id": "2"}),
          option("Hot", forecast_category={"name": "Best Case", "id": "3"})], {"Signed", "Dropped"}),
        ([option("Closed Won"), option("Qualification"), option("-None-")], {"Closed Won"}),
    ],
)  # fmt: skip
def test_closed_stages_from_the_stage_metadata(
    values: list[dict[str, Any]], closed: set[str]
) -> None:
    assert closed_stages(stage_field(*values)) == closed


def test_no_stage_metadata_means_no_answer() -> None:
    assert closed_stages([{"api_name": "Deal_Name"}]) is None
    assert closed_stages(stage_field()) is None


@pytest.mark.parametrize(
    ("hours", "week"),
    [
        ({"type": "24_by_7"}, None),
        ({"type": "24*7"}, None),
        ({"type": "custom", "business_days": ["Monday", "Friday"], "same_as_everyday": True,
          "daily_timing": ["9:00 AM", "6:00 PM"]},
         (((540, 1080),), (), (), (), ((540, 1080),), (), ())),
        # a night shift runs past midnight into the next day
        ({"type": "custom", "business_days": ["Sunday"], "same_as_everyday": True,
          "daily_timing": ["22:00", "06:00"]},
         (((0, 360),), (), (), (), (), (), ((1320, 1440),))),
        # a day missing from custom_timing keeps the daily timing; "00:00" as an end is midnight
        ({"type": "custom", "business_days": ["Tuesday", "Wednesday"], "same_as_everyday": False,
          "daily_timing": ["10:00", "00:00"],
          "custom_timing": [{"days": "Tuesday", "business_timing": ["08:00", "12:00"]}]},
         ((), ((480, 720),), ((600, 1440),), (), (), (), ())),
    ],
)  # fmt: skip
def test_business_hours_answers(
    hours: dict[str, Any], week: tuple[tuple[tuple[int, int], ...], ...] | None
) -> None:
    got = working_hours({"business_hours": {"id": "1", **hours}})
    assert got == (WorkingHours.always() if week is None else WorkingHours(week, "zoho"))
    assert working_hours(None) == WorkingHours.always()  # 204: none configured


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "no 'business_hours' object"),
        ({"business_hours": {"type": "custom"}}, "no business_days"),
        ({"business_hours": {"type": "weekly", "business_days": ["Monday"]}}, "unknown type"),
        ({"business_hours": {"type": "custom", "business_days": ["Moonday"], "daily_timing": ["09:00", "18:00"]}}, "not a weekday"),
        ({"business_hours": {"type": "custom", "business_days": ["Monday"], "daily_timing": ["09:00"]}}, "not start/end pairs"),
        ({"business_hours": {"type": "custom", "business_days": ["Monday"], "daily_timing": ["9", "18:00"]}}, "not a time of day"),
    ],
)  # fmt: skip
def test_unreadable_business_hours(body: dict[str, Any], message: str) -> None:
    with pytest.raises(OrgSettingsError, match=message):
        working_hours(body)


@pytest.mark.anyio
async def test_without_the_scope_the_client_says_how_to_fix_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json=error("OAUTH_SCOPE_MISMATCH"))

    client, fake, _ = make(crm)
    with caplog.at_level(logging.WARNING):
        assert await client.business_hours() == WorkingHours.always()
        assert await client.deal_closed_stages() == ZOHO_DEFAULT_CLOSED_STAGES
    text = caplog.text
    assert "ZohoCRM.settings.business_hours.READ" in text and "[scenario.business_hours]" in text
    assert "Zoho's default closed stages" in text
    assert [r.url.path for r in fake.requests][:1] == ["/crm/v8/settings/business_hours"]
