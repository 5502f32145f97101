"""A transferred call from the pickup webhook to the plan: who answered first owns the lead.

The pickup's employee is kept in the webhook inbox; ``Inbox.first_answerers`` reads it back for
the calls being planned and ``with_first_answerers`` puts it on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from scenario_world import ANNA, PETRO, call, plan_one

from tasks.calls import with_first_answerers
from tasks.store import Store
from tasks.webhooks.events import EventKind, first_answerer, read_event
from tasks.webhooks.inbox import Inbox

AT = datetime(2026, 1, 18, 8, 0, 5, tzinfo=UTC)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with Store("sqlite://", clock=lambda: AT) as store:
        yield Inbox(store)


def pickup(inbox: Inbox, uid: str, **params: str) -> None:
    event = read_event(
        EventKind.PICKUP,
        {"uniqueid": uid, "caller": "+380501112233", **params},
        names={"sip": "connected_with"},
        received_at=AT,
        timezone="Europe/Kyiv",
    )
    assert inbox.add(event)


def test_the_pickups_employee_reaches_the_planner(inbox: Inbox) -> None:
    pickup(inbox, "c1", sip="anna_sip")  # under the name chosen in Ringostat
    pickup(inbox, "c2", employee_number="201")
    pickup(inbox, "c3")  # a pickup that named nobody
    after = read_event(
        EventKind.AFTER_CALL,
        {"uniqueid": "c4", "caller": "1", "connected_with": "petro_sip"},
        names={},
        received_at=AT,
        timezone="Europe/Kyiv",
    )
    inbox.add(after)  # not a pickup: it names the last employee, not the first
    assert inbox.first_answerers(["c1", "c2", "c3", "c4", "c5", "c1"]) == {
        "c1": "anna_sip",
        "c2": "201",
    }

    # the call log names Petro, who took the call over from Anna
    (c,) = with_first_answerers([call("c1", employee="petro_sip")], inbox.first_answerers(["c1"]))
    p = plan_one(c)
    assert [(w.kind, w.owner_id) for w in p.writes] == [("lead", ANNA.id), ("log_task", PETRO.id)]


def test_first_answerer_of_a_row() -> None:
    assert first_answerer({"connected_with": " anna_sip ", "employee_number": "201"}) == "anna_sip"
    assert first_answerer({"connected_with": "", "employee_number": "201"}) == "201"
    assert first_answerer({"caller": "+380501112233"}) is None
