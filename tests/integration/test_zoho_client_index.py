"""The phone index against the Zoho emulator: full load once, then cheap, correct increments."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session, col, delete

from emulators.zoho import ZohoState, create_app, transport
from models.crm import CrmSnapshot
from models.settings import ScenarioSettings, ZohoSettings
from models.tables import CursorRecord
from tasks.store import Store
from tasks.zoho.client import ZohoClient
from tasks.zoho.index import PHONE_RULES, IndexDelta, index_fields, refresh_index

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


@pytest.fixture
def store() -> Iterator[Store]:
    with Store("sqlite://") as st:
        yield st


async def _refresh(
    org: Org, store: Store, *, full: bool = False, me: str | None = None
) -> IndexDelta:
    delta = await refresh_index(
        org.client, store.index_watermarks(), SCENARIO, full=full, api_user_id=me
    )
    store.save_index(delta.records, delta.watermarks, deleted=delta.deleted)
    return delta


def _snap(store: Store, *keys: str) -> CrmSnapshot:
    return CrmSnapshot.build([], store.index_for_keys(keys))


async def test_first_refresh_loads_everything_with_only_the_needed_fields(
    org: Org, store: Store
) -> None:
    delta = await _refresh(org, store)
    (l1, l2), (c1, c2), (d1, d2) = org.ids["Leads"], org.ids["Contacts"], org.ids["Deals"]
    snap = _snap(store, "661234567", "671112233", "501112233", "442223344")
    assert _ids(snap, "661234567") == {("Leads", l1)}
    assert _ids(snap, "671112233") == {("Leads", l2)}
    assert _ids(snap, "501112233") == {("Contacts", c1)}
    assert _ids(snap, "442223344") == {("Contacts", c2)}
    assert {d.id for d in snap.deals_by_contact[c1]} == {d1, d2}
    assert [
        d.is_open_deal for d in sorted(snap.deals_by_contact[c1], key=lambda d: d.name or "")
    ] == [True, False]
    assert set(delta.full_modules) == {"Leads", "Contacts", "Deals"}
    assert store.index_watermarks().keys() == {
        "Leads", "Contacts", "Deals", "Leads:all", "Contacts:all", "Deals:all",
        "Leads:deleted", "Contacts:deleted", "Deals:deleted", PHONE_RULES,
    }  # fmt: skip
    assert org.client.stats.by_route["GET /crm/v8/{module}"] == 3
    assert "GET /crm/v8/{module}/deleted" not in org.client.stats.by_route
    assert "Converted__s" in index_fields("Leads", SCENARIO)
    assert "rs_utm_source" not in index_fields("Contacts", SCENARIO)


async def test_index_follows_changes_with_few_requests(org: Org, store: Store) -> None:
    client = org.client
    await _refresh(org, store)
    (l1, l2), (c1, _c2), (d1, _d2) = org.ids["Leads"], org.ids["Contacts"], org.ids["Deals"]

    org.clock.advance(660)  # past DELETIONS_EVERY: this pass also asks for deleted records
    # a new phone on L1, C1 reassigned to Boris, L2 converted, D1 deleted
    results = await client.update("Leads", [{"id": l1, "Phone": "+380661230000"}])
    assert results[0].ok
    assert (await client.update("Contacts", [{"id": c1, "Owner": {"id": BORIS}}]))[0].ok
    converted = await client.convert_lead(l2)
    await org.delete("Deals", d1)
    org.clock.advance(5)

    before, credits = dict(client.stats.by_route), client.stats.credits
    delta = await _refresh(org, store)
    assert delta.full_modules == ()
    spent = {k: n for k, v in client.stats.by_route.items() if (n := v - before.get(k, 0))}
    # one COQL page and one deletions call per module
    assert spent == {"POST /crm/v8/coql": 3, "GET /crm/v8/{module}/deleted": 3}
    assert client.stats.credits - credits == 6  # COQL pages of 200 rows cost one credit
    snap = _snap(store, "661234567", "661230000", "501112233", "671112233")
    assert _ids(snap, "661234567") == set()
    assert _ids(snap, "661230000") == {("Leads", l1)}
    [c1_now] = [r for r in snap.by_key["501112233"] if r.id == c1]
    assert c1_now.owner_id == BORIS
    [lead2] = [r for r in snap.by_key["671112233"] if r.id == l2]
    assert lead2.converted
    new_contact = converted["Contacts"]["id"]
    assert _ids(snap, "671112233") == {("Leads", l2), ("Contacts", new_contact)}
    assert {d.id for d in snap.deals_by_contact[c1]} == {org.ids["Deals"][1]}

    # nothing changed since: three small queries, no deletions call, the same index (what the
    # overlap reads again replaces itself)
    org.clock.advance(60)
    before_requests, size = client.stats.requests, store.index_size()
    await _refresh(org, store)
    assert client.stats.requests - before_requests == 3
    assert store.index_size() == size


async def test_callsyncs_own_leads_are_not_listed_back_but_others_changes_are(
    org: Org, store: Store
) -> None:
    client = org.client
    me = await client.current_user_id()
    assert me is not None
    await _refresh(org, store, me=me)
    org.clock.advance(120)
    # callsync writes a lead (it carries its sync key) after the watermark
    [own] = await client.insert(
        "Leads", [{"Last_Name": "new", "Phone": "+380931112233", "rs_sync_key": "u1/lead"}]
    )
    assert own.ok and own.id
    org.clock.advance(5)
    delta = await _refresh(org, store, me=me)
    assert ("Leads", own.id) not in {(r.module, r.id) for r in delta.records}

    # a manager reassigns it: listed by the next pass
    org.clock.advance(60)
    seed = {"Leads": [{"id": own.id, "Last_Name": "new", "Phone": "+380931112233",
                       "rs_sync_key": "u1/lead", "Owner": {"id": BORIS},
                       "Modified_By": {"id": BORIS}}]}  # fmt: skip
    (await org.http.post("/__emulator__/seed", json=seed)).raise_for_status()
    org.clock.advance(5)
    delta = await _refresh(org, store, me=me)
    assert (own.id, BORIS) in {(r.id, r.owner_id) for r in delta.records}

    # the thorough pass lists everything changed since its own watermark, callsync's included
    full = await _refresh(org, store, me=me, full=True)
    assert own.id in {r.id for r in full.records}
    assert set(full.full_modules) == {"Leads", "Contacts", "Deals"}


async def test_same_second_change_is_not_lost(org: Org, store: Store) -> None:
    client = org.client
    await _refresh(org, store)
    l1 = org.ids["Leads"][0]
    # saved in the very second the previous listing's newest record carries
    assert (await client.update("Leads", [{"id": l1, "Phone": "+380669999999"}]))[0].ok
    await _refresh(org, store)
    assert _ids(_snap(store, "669999999"), "669999999") == {("Leads", l1)}


async def test_an_index_built_by_older_phone_rules_is_listed_again_once(
    org: Org, store: Store
) -> None:
    client = org.client
    c2 = org.ids["Contacts"][1]
    assert (await client.update("Contacts", [{"id": c2, "Phone": "067 111 22 99, 050 111 22 98"}]))[
        0
    ].ok
    org.clock.advance(300)  # a later change on Contacts: c2 is well behind the watermark
    assert (await client.update("Contacts", [{"id": org.ids["Contacts"][0], "Last_Name": "C"}]))[
        0
    ].ok
    await _refresh(org, store)
    assert _ids(_snap(store, "501112298"), "501112298") == {("Contacts", c2)}
    # the same index as an older version kept it: the typed value gave no key, no rules mark
    [record] = [r for r in store.index_for_keys(["671112299"]) if r.id == c2]
    store.save_index([replace(record, phones=())], {})
    with Session(store.engine) as session:
        session.exec(delete(CursorRecord).where(col(CursorRecord.name) == f"crm:{PHONE_RULES}"))
        session.commit()
    assert _ids(_snap(store, "501112298"), "501112298") == set()
    org.clock.advance(600)
    before = client.stats.by_route["GET /crm/v8/{module}"]
    delta = await _refresh(org, store)
    assert set(delta.full_modules) == {"Leads", "Contacts"}
    assert _ids(_snap(store, "501112298"), "501112298") == {("Contacts", c2)}
    assert client.stats.by_route["GET /crm/v8/{module}"] - before == 2
    # once only: the next refresh is a changes pass again
    third = await _refresh(org, store)
    assert third.full_modules == ()
