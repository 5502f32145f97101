"""The phone index against the Zoho emulator: full load once, then cheap, correct increments."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from emulators.zoho import ZohoState, create_app, transport
from models.crm import CrmSnapshot
from models.settings import ScenarioSettings, ZohoSettings
from tasks.zoho.client import ZohoClient
from tasks.zoho.index import (
    PHONE_RULES,
    IndexState,
    index_fields,
    load_users,
    refresh_index,
    snapshot,
)

pytestmark = pytest.mark.anyio

BASE = "https://zoho.test"
ANNA, BORIS = "5000001", "5000002"
SCENARIO = ScenarioSettings(top_manager="boss@example.com")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 18, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class Org:
    http: httpx.AsyncClient
    clock: FakeClock
    client: ZohoClient
    ids: dict[str, list[str]]

    async def delete(self, module: str, record_id: str) -> None:
        token = await self.client.access_token()
        response = await self.http.delete(
            f"/crm/v8/{module}/{record_id}",
            headers={"Authorization": f"Zoho-oauthtoken {token.value}"},
        )
        assert response.status_code == 200, response.text


@pytest.fixture
async def org() -> AsyncIterator[Org]:
    clock = FakeClock()
    app = create_app(ZohoState(clock=clock))
    async with httpx.AsyncClient(transport=transport(app), base_url=BASE) as http:
        seed: dict[str, Any] = {
            "users": [
                {"id": ANNA, "email": "anna@example.com", "last_name": "Anna"},
                {"id": BORIS, "email": "boris@example.com", "last_name": "Boris"},
            ],
            "Leads": [
                {"Last_Name": "L1", "Phone": "+380661234567", "Owner": {"id": ANNA}},
                {"Last_Name": "L2", "Mobile": "067 111 22 33", "Owner": {"id": BORIS}},
            ],
            "Contacts": [
                {"Last_Name": "C1", "Phone": "+380501112233", "Owner": {"id": ANNA}},
                {"Last_Name": "C2", "Home_Phone": "+380442223344", "Owner": {"id": BORIS}},
            ],
        }
        seeded = (await http.post("/__emulator__/seed", json=seed)).json()["ids"]
        contact = seeded["Contacts"][0]
        deals = {
            "Deals": [
                {"Deal_Name": "D1", "Stage": "Qualification", "Contact_Name": {"id": contact}},
                {"Deal_Name": "D2", "Stage": "Closed Won", "Contact_Name": {"id": contact}},
            ]
        }
        seeded |= (await http.post("/__emulator__/seed", json=deals)).json()["ids"]
        settings = ZohoSettings(
            accounts_url=BASE,
            api_domain=BASE,
            client_id=SecretStr("c"),
            client_secret=SecretStr("s"),
            refresh_token=SecretStr("r"),
        )
        client = ZohoClient(settings, http, sleep=_no_sleep, clock=clock, rng=random.Random(0))
        yield Org(http, clock, client, seeded)


def _ids(snap: CrmSnapshot, key: str) -> set[tuple[str, str]]:
    return {(r.module, r.id) for r in snap.by_key.get(key, ())}


async def test_first_refresh_loads_everything_with_only_the_needed_fields(org: Org) -> None:
    state = await refresh_index(org.client, IndexState(), SCENARIO)
    users = await load_users(org.client)
    snap = snapshot(state, users)
    (l1, l2), (c1, c2), (d1, d2) = org.ids["Leads"], org.ids["Contacts"], org.ids["Deals"]
    assert _ids(snap, "661234567") == {("Leads", l1)}
    assert _ids(snap, "671112233") == {("Leads", l2)}
    assert _ids(snap, "501112233") == {("Contacts", c1)}
    assert _ids(snap, "442223344") == {("Contacts", c2)}
    assert {d.id for d in snap.deals_by_contact[c1]} == {d1, d2}
    assert [
        d.is_open_deal for d in sorted(snap.deals_by_contact[c1], key=lambda d: d.name or "")
    ] == [True, False]
    assert snap.user("anna@example.com") is not None and len(users) == 3
    assert state.watermarks.keys() == {
        "Leads", "Contacts", "Deals", "Leads:deleted", "Contacts:deleted", "Deals:deleted",
        PHONE_RULES,
    }  # fmt: skip
    assert org.client.stats.by_route["GET /crm/v8/{module}"] == 3
    assert "GET /crm/v8/{module}/deleted" not in org.client.stats.by_route
    assert "Converted__s" in index_fields("Leads", SCENARIO)
    assert "rs_utm_source" not in index_fields("Contacts", SCENARIO)


async def test_index_follows_changes_with_few_requests(org: Org) -> None:
    client = org.client
    state = await refresh_index(client, IndexState(), SCENARIO)
    (l1, l2), (c1, _c2), (d1, _d2) = org.ids["Leads"], org.ids["Contacts"], org.ids["Deals"]

    org.clock.advance(300)
    # a new phone on L1, C1 reassigned to Boris, L2 converted, D1 deleted
    results = await client.update("Leads", [{"id": l1, "Phone": "+380661230000"}])
    assert results[0].ok
    assert (await client.update("Contacts", [{"id": c1, "Owner": {"id": BORIS}}]))[0].ok
    converted = await client.convert_lead(l2)
    await org.delete("Deals", d1)
    org.clock.advance(5)

    before = client.stats.requests
    state = await refresh_index(client, state, SCENARIO)
    assert client.stats.requests - before <= 6  # one listing and one deletions call per module
    snap = snapshot(state, [])
    assert _ids(snap, "661234567") == set()
    assert _ids(snap, "661230000") == {("Leads", l1)}
    [c1_now] = [r for r in snap.by_key["501112233"] if r.id == c1]
    assert c1_now.owner_id == BORIS
    lead2 = state.records[("Leads", l2)]
    assert lead2.converted
    new_contact = converted["Contacts"]["id"]
    assert _ids(snap, "671112233") == {("Leads", l2), ("Contacts", new_contact)}
    assert ("Deals", d1) not in state.records
    assert {d.id for d in snap.deals_by_contact[c1]} == {org.ids["Deals"][1]}

    # nothing changed since: still a handful of requests, and the same index
    org.clock.advance(600)
    before = client.stats.requests
    again = await refresh_index(client, state, SCENARIO)
    assert client.stats.requests - before <= 6
    assert again.records == state.records
    assert again.watermarks["Leads"] == state.watermarks["Leads"]


async def test_same_second_change_is_not_lost(org: Org) -> None:
    client = org.client
    state = await refresh_index(client, IndexState(), SCENARIO)
    l1 = org.ids["Leads"][0]
    # saved in the very second the previous listing's newest record carries
    assert (await client.update("Leads", [{"id": l1, "Phone": "+380669999999"}]))[0].ok
    state = await refresh_index(client, state, SCENARIO)
    assert _ids(snapshot(state, []), "669999999") == {("Leads", l1)}


async def test_refresh_does_not_mutate_the_given_state(org: Org) -> None:
    empty = IndexState()
    state = await refresh_index(org.client, empty, SCENARIO)
    assert empty.records == {} and empty.watermarks == {}
    assert len(state.records) == 6


async def test_an_index_built_by_older_phone_rules_is_listed_again_once(org: Org) -> None:
    client = org.client
    c2 = org.ids["Contacts"][1]
    assert (await client.update("Contacts", [{"id": c2, "Phone": "067 111 22 99, 050 111 22 98"}]))[
        0
    ].ok
    org.clock.advance(300)  # a later change on Contacts: c2 is well behind the watermark
    assert (await client.update("Contacts", [{"id": org.ids["Contacts"][0], "Last_Name": "C"}]))[
        0
    ].ok
    state = await refresh_index(client, IndexState(), SCENARIO)
    assert _ids(snapshot(state, []), "501112298") == {("Contacts", c2)}
    # the same index as an older version kept it: the typed value gave no key, no rules mark
    old = {k: v for k, v in state.watermarks.items() if k != PHONE_RULES}
    records = dict(state.records)
    records[("Contacts", c2)] = replace(records[("Contacts", c2)], phones=())
    org.clock.advance(600)
    before = client.stats.by_route["GET /crm/v8/{module}"]
    again = await refresh_index(client, IndexState(records=records, watermarks=old), SCENARIO)
    assert _ids(snapshot(again, []), "501112298") == {("Contacts", c2)}
    assert again.watermarks[PHONE_RULES] == state.watermarks[PHONE_RULES]
    assert client.stats.by_route["GET /crm/v8/{module}"] - before == 3
    # once only: the next refresh is incremental again (304s, nothing changed)
    third = await refresh_index(client, again, SCENARIO)
    assert third.records == again.records
