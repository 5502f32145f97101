"""Records a call created itself (SPEC 12) and the sync keys that say so (SPEC 7, 13)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from scenario_world import NEW, TOP, USERS, call, contact, lead, plan_one, settings
from sqlalchemy import inspect

from models.crm import CrmSnapshot
from models.sync_key import belongs_to, call_key, sync_key
from tasks.employees import EmployeeMap
from tasks.scenario import plan_calls
from tasks.store import Store

# --- sync keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("uid", ["1606995841.6183431", "c1", "a-b_c:d.e", "x" * 100])
def test_ordinary_uniqueids_keep_their_own_key(uid: str) -> None:
    assert call_key(uid) == uid
    assert sync_key(uid, "lead") == f"{uid}/lead"


@pytest.mark.parametrize(
    "uid", ['it"s', "it's", "a/b", "дзвінок-1", "with space", "x" * 101, "-lead", ""]
)
def test_odd_uniqueids_get_a_stable_hashed_key(uid: str) -> None:
    key = sync_key(uid, "lead")
    assert key == sync_key(uid, "lead")  # stable
    head, slot = key.split("/")
    assert head.startswith("h-") and len(head) == 34 and slot == "lead"
    assert head.isascii()
    assert belongs_to(key, uid) and not belongs_to(key, uid + "x")


def test_belongs_to_is_the_whole_call_key_not_a_prefix() -> None:
    assert belongs_to("c1/lead", "c1")
    assert not belongs_to("c10/lead", "c1")
    assert not belongs_to(None, "c1")


# --- the planner ---------------------------------------------------------------------------

OWN = {"rs_sync_key": "c1/lead"}


@pytest.mark.parametrize(
    ("kw", "row"),
    [
        ({"employee": "anna_sip"}, 1),
        ({"employee": "nobody_sip"}, 2),
        ({"disposition": "NO ANSWER"}, 6),
        ({"disposition": "VOICEMAIL"}, 8),
    ],
)
def test_the_calls_own_lead_does_not_make_its_caller_existing(kw: dict[str, str], row: int) -> None:
    c = call("c1", client=NEW, **kw)
    clean = plan_one(c)
    again = plan_one(c, [lead("L-own", phone=NEW, **OWN)])
    assert (again.row, again.client_status, again.ambiguous) == (row, "new", False)
    assert [w.sync_key for w in again.writes] == [w.sync_key for w in clean.writes]
    lead_write = again.writes[0]
    assert (lead_write.module, lead_write.op, lead_write.record_id) == ("Leads", "insert", "L-own")
    assert clean.writes[0].record_id is None
    assert all(w.links == {"What_Id": "c1/lead"} for w in again.writes[1:])


def test_own_lead_known_only_to_the_ledger() -> None:
    """An index row without the key (kept from before it was indexed): the ledger's key counts."""
    cfg = settings()
    c = call("c1", client=NEW, employee="anna_sip")
    crm = CrmSnapshot.build(USERS, [lead("L-own", phone=NEW)], {"L-own": "c1/lead"})
    (p,) = plan_calls(
        [c], crm, EmployeeMap.build(cfg.employees, USERS, cfg.scenario), cfg, now=c.ended_at
    )
    assert (p.row, p.client_status) == (1, "new")
    assert p.writes[0].record_id == "L-own"


def test_another_calls_lead_still_makes_the_caller_existing() -> None:
    p = plan_one(call("c2", client=NEW, employee="anna_sip"), [lead("L-1", phone=NEW, **OWN)])
    assert (p.row, p.client_status) == (4, "existing")
    assert all(w.module == "Tasks" for w in p.writes)


def test_the_contact_the_own_lead_was_converted_into_is_not_a_client() -> None:
    own = lead("L-own", phone=NEW, Converted__s=True, Converted_Contact={"id": "C-9"}, **OWN)
    p = plan_one(call("c1", client=NEW, disposition="NO ANSWER"), [own, contact("C-9", phone=NEW)])
    assert (p.row, p.client_status) == (6, "new")
    # an unrelated contact of the same number is still a client
    p = plan_one(call("c1", client=NEW, disposition="NO ANSWER"), [own, contact("C-1", phone=NEW)])
    assert (p.row, p.client_status) == (7, "existing")
    assert p.writes[0].owner_id == TOP.id


# --- the store keeps the key, and an older store gains the column --------------------------


def test_an_older_store_gains_the_new_nullable_columns(tmp_path: object) -> None:
    """A store from before the column (and before migrations): the last release's, without it."""
    path = f"{tmp_path}/old.db"
    dump = Path(__file__).parents[1] / "data" / "store-release-1" / "sqlite.sql"
    with sqlite3.connect(path) as db:
        db.executescript(dump.read_text(encoding="utf-8"))
        db.execute('ALTER TABLE crm_index DROP COLUMN "sync_key"')
    with Store(f"sqlite:///{path}") as store:
        columns = {c["name"] for c in inspect(store.engine).get_columns("crm_index")}
        assert "sync_key" in columns
        store.save_index({("Leads", "L-own"): lead("L-own", phone=NEW, **OWN)}, {})
        records, _ = store.load_index()
        assert records[("Leads", "L-own")].sync_key == "c1/lead"
