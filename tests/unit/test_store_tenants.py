"""Tenants in one state store: two companies with the same call ids, sync keys, cursors, phone
index, token names and leases, each seeing only its own rows; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from models.call import Phone
from models.crm import CrmRecord, ZohoUser
from models.plan import PlannedWrite, RotationTurn
from models.tables import CallRecord, CrmIndexRecord
from tasks.lease import LEASE_NAME, LeaseBusy, run_lease
from tasks.store import Store, WriteOutcome
from tasks.store.shared import StoredToken
from tasks.store.tenancy import TENANT_TABLES, TenantNameError
from tests.support.databases import BACKENDS, store_database

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def clock() -> datetime:
    return T0


Pair = tuple[Store, Store]


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    with store_database(request.param, tmp_path) as url:
        acme = Store(url, tenant="acme", clock=clock)
        globex = Store(url, tenant="globex", clock=clock)
        yield acme, globex
        acme.close()
        globex.close()


def row(uid: str, caller: str) -> dict[str, str]:
    return {"uniqueid": uid, "calldate": "2026-03-02 10:00:00", "caller": caller}


def lead(uid: str) -> PlannedWrite:
    return PlannedWrite(f"{uid}/lead", "Leads", "insert", {"Last_Name": "x"}, "u1", kind="lead")


def test_every_state_table_has_a_tenant_column() -> None:
    tables = {t.name for t in SQLModel.metadata.sorted_tables}
    assert tables == TENANT_TABLES


def test_the_same_call_ids_and_keys_are_two_tenants_own(pair: Pair) -> None:
    acme, globex = pair
    acme.ingest([row("ua-1", "+380501112233"), row("ua-2", "+380501112234")], run_id="r1")
    globex.ingest([row("ua-1", "+48601234567")], run_id="r2")
    assert len(acme.work()) == 2 and [r["caller"] for r in globex.work()] == ["+48601234567"]
    assert acme.raw_row("ua-1") == row("ua-1", "+380501112233")

    acme.record_intent([("ua-1", lead("ua-1"))])
    globex.record_intent([("ua-1", lead("ua-1"))])
    acme.record_results([WriteOutcome("ua-1/lead", "success", zoho_id="A1")])
    assert acme.ledger(["ua-1/lead"])["ua-1/lead"].zoho_id == "A1"
    assert globex.ledger(["ua-1/lead"])["ua-1/lead"].status == "pending"
    assert globex.created_ids("Leads") == []

    acme.set_cursor("ringostat:calls", T0)
    assert globex.get_cursor("ringostat:calls") is None
    globex.set_cursor("ringostat:calls", T0 - timedelta(days=1))
    assert acme.get_cursor("ringostat:calls") == T0

    phone = Phone(
        raw="+380501112233", e164="+380501112233", key="501112233", country_code=380, valid=True
    )
    acme.save_index([CrmRecord("Leads", "L1", "u1", T0, (phone,))], {"Leads": T0})
    assert [r.id for r in acme.index_for_keys(["501112233"])] == ["L1"]
    assert globex.index_for_keys(["501112233"]) == [] and globex.index_size() == 0

    acme.save_users([ZohoUser("u1", "a@acme.test", "Anna")], api_user_id="u1")
    assert acme.api_user_id() == "u1" and globex.api_user_id() is None
    acme.cache_put("fields", {"a": 1})
    assert globex.cache_get("fields", timedelta(hours=1)) is None
    assert acme.save_rotation_turn(RotationTurn("u1"))
    assert globex.rotation_turn() == RotationTurn(None)
    acme.start_run("run-a", "sync", None, None)
    assert globex.run("run-a") is None

    with acme.shared_engine.connect() as conn:
        per_tenant = dict(
            conn.execute(
                select(CallRecord.tenant, func.count()).group_by(CallRecord.tenant)  # type: ignore[arg-type]
            ).all()
        )
        assert per_tenant == {"acme": 2, "globex": 1}
        keys = conn.execute(select(CrmIndexRecord.tenant, CrmIndexRecord.id)).all()
        assert [tuple(k) for k in keys] == [("acme", "L1")]


def test_updates_and_deletes_reach_their_tenant_only(pair: Pair) -> None:
    acme, globex = pair
    for store in pair:
        store.ingest([row("ua-1", "+380501112233")], run_id="r")
    acme.quarantine_calls({"ua-1": ("bad", "why")}, run_id="r")
    assert acme.call("ua-1").status == "quarantined"  # type: ignore[union-attr]
    assert globex.call("ua-1").status == "pending"  # type: ignore[union-attr]
    assert acme.requeue().requeued == 1 and globex.requeue().requeued == 0
    phone = Phone(
        raw="+380501112233", e164="+380501112233", key="501112233", country_code=380, valid=True
    )
    for store in pair:
        store.save_index([CrmRecord("Leads", "L1", "u1", T0, (phone,))], {"Leads": T0})
    acme.save_index([], {}, deleted=[("Leads", "L1")])
    assert acme.index_size() == 0 and globex.index_size() == 1


def test_tokens_and_leases_are_per_tenant(pair: Pair) -> None:
    acme, globex = pair
    token = StoredToken("enc", "fp", "https://zoho.test", T0 + timedelta(hours=1))
    assert acme.claim_token_refresh("zoho:x", "p1", timedelta(seconds=30))
    assert globex.claim_token_refresh("zoho:x", "p2", timedelta(seconds=30))
    acme.save_token("zoho:x", "p1", token)
    globex.release_token_refresh("zoho:x", "p2")
    assert acme.stored_token("zoho:x") == token and globex.stored_token("zoho:x") is None

    with run_lease(acme, what="sync", run_id="a1"), run_lease(globex, what="sync", run_id="g1"):
        # Two companies sync at once; one company never twice.
        other = Store(acme.url, tenant="acme", clock=clock)
        try:
            with (
                pytest.raises(LeaseBusy, match="sync run a1"),
                run_lease(other, what="sync", run_id="a2"),
            ):
                pass
        finally:
            other.close()
    assert acme.lease_holder(LEASE_NAME) is None


def test_a_select_nested_over_a_tenant_table_is_refused(pair: Pair) -> None:
    acme, _ = pair
    inner = select(CallRecord.uniqueid).scalar_subquery()
    with acme.engine.connect() as conn, pytest.raises(NotImplementedError, match="nested"):
        conn.execute(select(CallRecord.status).where(CallRecord.uniqueid == inner))


def test_a_row_without_its_tenant_is_never_written(pair: Pair) -> None:
    acme, _ = pair
    with pytest.raises(Exception, match=r"(?i)null"), acme.shared_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO cursors (name, position, updated_at) VALUES ('c', :t, :t)"),
            {"t": T0.replace(tzinfo=None)},
        )


@pytest.mark.parametrize("name", ["Acme", "acme_kyiv", "-acme", "acme-", "", "a" * 64, "ac me"])
def test_a_tenant_name_is_lowercase_letters_digits_and_dashes(name: str) -> None:
    with pytest.raises(TenantNameError, match="lowercase letters"):
        Store("sqlite://", tenant=name)
