"""The demo dataset through the emulators: Ringostat phases read back by the client, Zoho seed."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr

from emulators.demo_data import DemoDataset, generate_demo
from emulators.ringostat import RingostatState, create_app
from models.settings import RingostatSettings
from tasks.ringostat import CALL_FIELDS, RingostatClient
from tasks.ringostat.wire import canonical_row

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def demo() -> DemoDataset:
    return generate_demo(seed=5, days=2, calls_per_day=300)


async def no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected retry sleep of {seconds} s")


def row_key(row: dict[str, Any]) -> str:
    return repr(sorted(row.items()))


async def test_the_phases_read_back_through_the_client_end_as_the_final_calls(
    demo: DemoDataset,
) -> None:
    now = [demo.phase_times[0]]
    state = RingostatState(timezone=demo.timezone, max_rows=250, clock=lambda: now[0])
    settings = RingostatSettings(
        base_url="http://ringostat.test",
        auth_key=SecretStr("demo-key"),
        timezone=demo.timezone,
        max_rows_per_request=250,
    )
    transport = httpx.ASGITransport(app=create_app(state))
    since = datetime.combine(demo.start, time(0), tzinfo=ZoneInfo(demo.timezone))
    reads: list[list[dict[str, Any]]] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://ringostat.test") as http:
        client = RingostatClient(settings, http, sleep=no_sleep)
        for moment, phase in zip(demo.phase_times, demo.phases, strict=True):
            now[0] = moment
            response = await http.post("/__emulator__/calls", json=phase)
            assert response.status_code == 200
            reads.append(await client.fetch_window(since, moment))

    in_progress = [r for r in reads[0] if r["disposition"] in ("IN PROGRESS", "CALLING")]
    assert in_progress
    final_by_id = {r["uniqueid"]: r for r in reads[-1] if r["uniqueid"]}
    for row in in_progress:
        assert final_by_id[row["uniqueid"]]["disposition"] not in ("IN PROGRESS", "CALLING")
    expected = [canonical_row({f: r.get(f) for f in CALL_FIELDS}) for r in demo.final_calls]
    assert sorted(map(row_key, reads[-1])) == sorted(map(row_key, expected))
    # The cap of 250 rows forced splits: more than one request per read.
    assert state.requests > 2 * len(demo.phases)


async def test_the_zoho_seed_is_accepted_by_the_zoho_emulator(demo: DemoDataset) -> None:
    try:
        zoho_app = importlib.import_module("emulators.zoho.app")
    except ImportError as exc:  # pragma: no cover - only while the Zoho emulator is being built
        pytest.skip(f"the Zoho emulator (emulators.zoho.app) is not importable yet: {exc}")
    app = zoho_app.create_app(clock=lambda: datetime(2025, 3, 28, 9, tzinfo=UTC))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://zoho.test"
    ) as http:
        seeded = await http.post("/__emulator__/seed", json=demo.zoho_seed)
        assert seeded.status_code == 200, seeded.text
        ids = seeded.json()["ids"]
        for module in ("Leads", "Contacts", "Deals"):
            assert ids[module] == [r["id"] for r in demo.zoho_seed[module]]
        assert ids["users"] == [u["id"] for u in demo.zoho_seed["users"]]

        token = await http.post(
            "/oauth/v2/token",
            data={"grant_type": "refresh_token", "client_id": "c", "client_secret": "s",
                  "refresh_token": "r"},
        )  # fmt: skip
        auth = {"Authorization": f"Zoho-oauthtoken {token.json()['access_token']}"}
        users = await http.get("/crm/v8/users", params={"type": "ActiveUsers"}, headers=auth)
        assert users.status_code == 200
        by_email = {u["email"]: u for u in users.json()["users"]}
        assert by_email[demo.top_manager]["role"]["name"] == "CEO"
        assert {e["zoho_user"] for e in demo.employees} <= set(by_email)

        dump = (await http.get("/__emulator__/dump")).json()
        assert len(dump["Leads"]) == len(demo.zoho_seed["Leads"])
        assert len(dump["Deals"]) == len(demo.zoho_seed["Deals"])
        contacts = {c["id"] for c in dump["Contacts"]}
        assert all(d["Contact_Name"]["id"] in contacts for d in dump["Deals"])
        owners = {lead["Owner"]["id"] for lead in dump["Leads"]}
        assert owners <= {u["id"] for u in demo.zoho_seed["users"]}
