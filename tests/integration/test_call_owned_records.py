"""SPEC 12: a record a call created itself never makes that call's caller "existing".

A run killed right after a call's lead reached Zoho (before the answer was bookkept), or a lead
the real-time receiver created at pickup with the same ``rs_sync_key``, must give the same
scenario rows and client statuses as a clean run, and reuse that lead instead of making another.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from tasks.store import Store, WriteOutcome
from tests.integration.pipeline_support import (
    TOP_EMAIL,
    Org,
    dump,
    inbound,
    lead_keys,
    org,
    rows_and_statuses,
    sync_steps,
)

__all__ = ["org"]  # the fixture

pytestmark = pytest.mark.anyio

# Rows 1, 2, 6 and 8 (new callers) and a second call of the row-1 caller (existing: row 3).
CALLS = [
    inbound("c-row1", "+380501110001", "ANSWERED", 1, connected_with="top_sip"),
    inbound("c-row2", "+380501110002", "ANSWERED", 2, connected_with="stranger_sip"),
    inbound("c-row6", "+380501110006", "NO ANSWER", 3),
    inbound("c-row8", "+380501110008", "VOICEMAIL", 4),
    inbound("c-again", "+380501110001", "ANSWERED", 9, connected_with="top_sip"),
]
EXPECTED = {
    "c-row1": (1, "new"),
    "c-row2": (2, "new"),
    "c-row6": (6, "new"),
    "c-row8": (8, "new"),
    "c-again": (3, "existing"),
}


class Killed(BaseException):
    """The process died here (nothing catches a BaseException on the way up)."""


class CrashingStore(Store):
    """A store whose process dies when it is about to bookkeep a lead Zoho has just created."""

    armed = False

    def record_results(self, outcomes: Sequence[WriteOutcome]) -> None:
        if self.armed and any(o.sync_key.endswith("/lead") for o in outcomes):
            self.armed = False
            raise Killed
        super().record_results(outcomes)


async def test_clean_run(org: tuple[Org, httpx.AsyncClient]) -> None:
    o, http = org
    with Store("sqlite://", clock=o.clock) as store:
        await sync_steps(o.client(http), store, CALLS)
        assert rows_and_statuses(store) == EXPECTED
    assert sorted(lead_keys(await dump(http)).values()) == [1, 1, 1, 1]


@pytest.mark.parametrize("victim", ["c-row1", "c-row2", "c-row6", "c-row8"])
async def test_a_crash_between_the_lead_and_its_bookkeeping_relabels_nothing(
    org: tuple[Org, httpx.AsyncClient], victim: str
) -> None:
    """Killed after the call's lead reached Zoho, before the ledger knew: the next run finds
    that lead in the phone index and must still see a new caller, and reuse the lead."""
    o, http = org
    with CrashingStore("sqlite://", clock=o.clock) as store:
        first = [r for r in CALLS if r["uniqueid"] == victim]
        store.armed = True
        with pytest.raises(Killed):
            await sync_steps(o.client(http), store, first)
        assert lead_keys(await dump(http)) == {f"{victim}/lead": 1}

        o.clock.advance(minutes=5)
        await sync_steps(o.client(http), store, CALLS)
        assert rows_and_statuses(store) == EXPECTED
        lead_id = store.ledger([f"{victim}/lead"])[f"{victim}/lead"].zoho_id
    after = await dump(http)
    assert sorted(lead_keys(after).values()) == [1, 1, 1, 1]
    (lead,) = [r for r in after["Leads"] if r["rs_sync_key"] == f"{victim}/lead"]
    assert lead["id"] == lead_id
    # the call's tasks hang on that same lead
    tasks = [t for t in after["Tasks"] if str(t["rs_sync_key"]).startswith(f"{victim}/")]
    assert tasks and all(t["What_Id"]["id"] == lead_id for t in tasks)


async def test_a_lead_created_at_pickup_keeps_the_call_new_and_is_reused(
    org: tuple[Org, httpx.AsyncClient],
) -> None:
    """The real-time receiver created ``c-row1/lead`` at pickup (same key, same fields): the log
    sync reports the call as row 1 with a new client and sends no second lead."""
    o, http = org
    top = next(u for u in o.state.users.values() if u["email"] == TOP_EMAIL)
    seeded = await http.post(
        "/__emulator__/seed",
        json={
            "Leads": [
                {
                    "Last_Name": "+380501110001",
                    "Phone": "+380501110001",
                    "Owner": {"id": top["id"]},
                    "rs_sync_key": "c-row1/lead",
                }
            ]
        },
    )
    seeded.raise_for_status()
    before = await dump(http)
    (pickup_lead,) = before["Leads"]
    with Store("sqlite://", clock=o.clock) as store:
        client = o.client(http)
        await sync_steps(client, store, CALLS)
        assert rows_and_statuses(store) == EXPECTED
        assert store.ledger(["c-row1/lead"])["c-row1/lead"].zoho_id == pickup_lead["id"]
    after = await dump(http)
    assert sorted(lead_keys(after).values()) == [1, 1, 1, 1]


async def test_another_calls_lead_makes_the_caller_existing(
    org: tuple[Org, httpx.AsyncClient],
) -> None:
    """The rule is about the call's *own* records: a lead another call created still counts."""
    o, http = org
    with Store("sqlite://", clock=o.clock) as store:
        await sync_steps(o.client(http), store, CALLS[:1])
        o.clock.advance(minutes=5)
        await sync_steps(o.client(http), store, CALLS[1:])
        assert rows_and_statuses(store) == EXPECTED
