"""One webhook receiver for every tenant of a tenants directory, on SQLite and PostgreSQL: each
tenant's path, token, inbox and Zoho org are its own."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from emulators.serve import BackgroundServer
from emulators.zoho.app import create_app as create_zoho
from flows.runtime.listen import tenants_receiver_app
from models.tenants import TenantsDir
from tasks.pipeline.webhooks import Handled
from tasks.store import Store
from tests.integration.webhook_support import SEED, config, pickup


def tenant_file(tmp_path: Path, zoho_url: str, name: str) -> dict[str, Any]:
    values = config(tmp_path, zoho_url, webhook_token := f"{name}-token")
    values.pop("store")
    values["zoho"].update(client_id=f"cid-{name}", refresh_token=f"rt-{name}")
    values["webhook"] = {"token": webhook_token}
    return values


def test_each_tenant_has_its_path_token_inbox_and_org(tmp_path: Path, store_url: str) -> None:
    handled: queue.Queue[Handled] = queue.Queue()
    directory = tmp_path / "tenants"
    directory.mkdir()
    with BackgroundServer(create_zoho()) as zoho, httpx.Client(timeout=30) as http:
        for name in ("acme", "globex"):
            org = f"{zoho.url}/__emulator__/orgs/{name}"
            oauth = {"client_ids": [f"cid-{name}"], "refresh_tokens": [f"rt-{name}"]}
            http.post(f"{org}/seed", json={**SEED, "oauth": oauth}).raise_for_status()
            values = tenant_file(tmp_path, zoho.url, name)
            (directory / f"{name}.toml").write_bytes(tomli_w.dumps(values).encode())
        installation = {"store": {"url": store_url}}
        (directory / "installation.toml").write_bytes(tomli_w.dumps(installation).encode())

        app = tenants_receiver_app(TenantsDir(directory), emit=handled.put)
        with BackgroundServer(app, lifespan="on") as receiver:
            base = f"{receiver.url}/t"
            event = pickup("ua-acme-1", "+380509990001")
            ok = http.post(f"{base}/acme/ringostat/pickup?token=acme-token", json=event)
            assert ok.status_code == 200, ok.text
            assert handled.get(timeout=60).outcome == "lead_created"
            assert app.tenants == ["acme", "globex"]  # both started with the receiver

            wrong = http.post(f"{base}/globex/ringostat/pickup?token=acme-token", json=event)
            assert wrong.status_code == 401
            for path in ("/t/nobody/ringostat/pickup", "/ringostat/pickup", "/t/Acme/x"):
                answer = http.post(f"{receiver.url}{path}?token=acme-token", json=event)
                assert answer.status_code == 404, path

        acme = http.get(f"{zoho.url}/__emulator__/orgs/acme/dump").json()["Leads"]
        globex = http.get(f"{zoho.url}/__emulator__/orgs/globex/dump").json()["Leads"]
    assert [r["Phone"] for r in acme if r.get("rs_sync_key")] == ["+380509990001"]
    assert not [r for r in globex if r.get("rs_sync_key")]
    for name, events in (("acme", 1), ("globex", 0)):
        with Store(store_url, tenant=name) as store:
            assert sum(store.inbox_counts().values()) == events
