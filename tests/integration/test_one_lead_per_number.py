"""One lead per number, however it is typed in the CRM: the real receiver (uvicorn on 127.0.0.1)
against the Zoho emulator, on SQLite and PostgreSQL.

- "fill in the web form, then call": a lead someone created with the phone typed in any of the
  formats the phone rules read (the formats of tests/unit/test_phones.py and
  tests/properties/test_phones_properties.py) after the receiver's last index refresh; the
  pickup of the call finds it (the point lookup) and writes nothing;
- Zoho's notifications: a receiver Zoho can reach subscribes at start, and a lead created,
  changed or deleted in Zoho reaches its stored phone index at once, without any webhook.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
import pytest

from tasks.phones import normalize
from tasks.store import Store
from tests.integration.webhook_support import TOKEN, ZohoWorld, pickup, receiver, zoho_world
from tests.properties.test_phones_properties import _spread

SEPARATOR_SETS = ([" "], ["-"], ["."], [" - "], ["", " "], [" ", "-"], ["  ", ""])


def _ukrainian(operator: str, subscriber: str, seps: list[str], brackets: bool) -> list[str]:
    """The Ukrainian variants of the phone property tests, for one number."""
    op = f"({operator})" if brackets else operator
    rest = _spread(subscriber, seps)
    return [
        f"+380 {op} {rest}",
        f"+38 (0{operator}) {rest}",
        f"+38 0{operator} {rest}",
        f"00380{op}{rest}",
        f"380-{op}-{rest}",
        f"0{op} {rest}",
        f"(0{operator}) {rest}",
    ]


def _international() -> list[tuple[str, str]]:
    """(typed value, the caller's E.164) for mobile numbers of other countries, written the
    ways the property tests write them (each value a number of its own)."""
    out = []
    for n, region in enumerate(["PL", "DE", "GB", "US", "KZ", "FR"]):
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        cc = str(example.country_code)
        nsn = phonenumbers.national_significant_number(example)
        for v in range(4):
            unique = nsn[:-2] + f"{(n * 4 + v) % 100:02d}"  # another number of the same shape
            number = phonenumbers.parse(f"+{cc}{unique}")
            value = [
                f"+{cc} {_spread(unique, [' '])}",
                f"00{cc}{_spread(unique, ['-'])}",
                f"+{cc} ({unique[:3]}) {unique[3:]}",
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            ][v]
            out.append((value, f"+{cc}{unique}"))
    return out


def typed_numbers() -> list[tuple[str, str]]:
    """(the CRM's phone value, the caller's number) — one number per value."""
    cases: list[tuple[str, str]] = [
        ("+38 (093) 000-10-30", "+380930001030"),  # the issue's own
        ("093 000 10 31", "+380930001031"),
        ("(093)0001032", "+380930001032"),
        ("Ivan 0930001033 (viber)", "+380930001033"),
        ("067 111 22 99, 050 111 22 98", "+380501112298"),  # the second of a list
        ("+380 67 111 22 77 (viber)", "+380671112277"),
        ("tel. 050-111-22-33 ext 5", "+380501112233"),
        ("050.111.22.34", "+380501112234"),
        ("viber: 48733151952", "+48733151952"),
        ("Ivan 671112296", "+380671112296"),
        ("0671112295;0501112294", "+380501112294"),
    ]
    serial = 0
    for operator in ("50", "67", "93", "99"):
        for seps in SEPARATOR_SETS:
            for brackets in (False, True):
                for value_maker in range(7):
                    serial += 1
                    subscriber = f"{4000000 + serial:07d}"
                    value = _ukrainian(operator, subscriber, seps, brackets)[value_maker]
                    if len(value) <= 30:  # Zoho's phone fields hold 30 characters
                        cases.append((value, f"+380{operator}{subscriber}"))
    cases += _international()
    for value, caller in cases:
        assert len(value) <= 30, value
        phone = normalize(caller, region="UA", match_digits=9)
        assert phone is not None and phone.e164 == caller, caller
    assert len({c[-9:] for _, c in cases}) == len(cases)
    return cases


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> Iterator[ZohoWorld]:
    with zoho_world(tmp_path, store_url) as w:
        yield w


def _seed(world: ZohoWorld, leads: list[dict[str, Any]]) -> list[str]:
    answer = world.http.post(f"{world.url}/__emulator__/seed", json={"Leads": leads})
    answer.raise_for_status()
    ids: list[str] = answer.json()["ids"]["Leads"]
    return ids


def test_web_form_then_call_in_every_format_gives_one_lead(world: ZohoWorld) -> None:
    cases = typed_numbers()
    # the index refreshes once when the receiver starts, then not for an hour: only the
    # receiver's point lookup can find what the web form creates after that
    settings = world.settings(index_refresh_s=3600)
    params = {"token": TOKEN}
    with receiver(settings) as rec, httpx.Client(base_url=rec.url) as http:
        warm = http.post("/ringostat/pickup", json=pickup("warm-1", "+380501230099"), params=params)
        assert warm.status_code == 200
        assert [h.outcome for h in rec.wait(1)] == ["lead_created"]  # the index is read

        _seed(world, [{"Last_Name": f"Web form {n}", "Phone": v} for n, (v, _) in enumerate(cases)])
        for n, (_, caller) in enumerate(cases):
            body = pickup(f"form-{n:03d}", caller)
            assert http.post("/ringostat/pickup", json=body, params=params).status_code == 200
        handled = rec.wait(len(cases))

    outcomes = {h.event.uniqueid: h.outcome for h in handled}
    wrong = {
        cases[int(uid.split("-")[1])][0]: outcome
        for uid, outcome in outcomes.items()
        if outcome != "existing_client"
    }
    assert wrong == {}, f"a pickup wrote a second lead for these typed numbers: {wrong}"
    leads = [r for r in world.dump()["Leads"] if str(r.get("rs_sync_key", "")).startswith("form-")]
    assert leads == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_zoho_notifications_keep_the_receivers_index_current(world: ZohoWorld) -> None:
    port = _free_port()
    settings = world.settings(index_refresh_s=3600, public_url=f"http://127.0.0.1:{port}")
    with receiver(settings, port=port) as rec, httpx.Client(base_url=rec.url) as http:
        assert http.get("/healthz").status_code == 200  # started: subscribed before serving
        [lead_id] = _seed(world, [{"Last_Name": "Web form", "Phone": "+38 (093) 000-10-40"}])
        note, changed = rec.notified.get(timeout=60)
        assert (note.module, note.operation, note.ids, changed) == (
            "Leads",
            "insert",
            (lead_id,),
            1,
        )
        with Store(settings.store.url) as store:
            found = store.index_for_keys(["930001040"])
        assert [(r.module, r.id) for r in found] == [("Leads", lead_id)]

        # a notification without Zoho's token is refused and changes nothing
        forged = {"module": "Leads", "ids": [lead_id], "operation": "delete", "token": "x"}
        assert http.post("/zoho/notify", json=forged).status_code == 401
        assert http.post("/zoho/notify", content=b"{not json").status_code == 400

        # a deletion in Zoho leaves the index as soon as Zoho says so
        token = world.http.post(
            f"{world.url}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "cid",
                "client_secret": "secret",
                "refresh_token": "refresh",
            },
        ).json()["access_token"]
        deleted = world.http.delete(
            f"{world.url}/crm/v8/Leads/{lead_id}",
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
        )
        assert deleted.status_code == 200
        note, changed = rec.notified.get(timeout=60)
        assert (note.operation, note.ids, changed) == ("delete", (lead_id,), 1)
        with Store(settings.store.url) as store:
            assert store.index_for_keys(["930001040"]) == []
