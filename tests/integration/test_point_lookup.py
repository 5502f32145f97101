"""The receiver's point lookup in Zoho: a number however it is typed, and an org whose Zoho
refused ``%`` between the digits of a ``like`` pattern (the lookup then goes on with the digits
together, once told)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from emulators.zoho.inprocess import transport
from models.settings import Settings
from tasks.pipeline.webhooks import PointLookup
from tests.integration.pipeline_support import TOP_EMAIL, Org
from tests.support.zoho_harness import BASE_URL

pytestmark = pytest.mark.anyio

TYPED = {
    "930001030": "+38 (093) 000-10-30",
    "930001031": "093 000 10 31",
    "930001032": "(093)0001032 Ivan",
    "930001033": "380930001033",
}


class RefusesSpreadPatterns:
    """The emulator, except that COQL with ``%`` between two digits answers INVALID_QUERY."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.refused = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/crm/v8/coql":
            chunks = []
            while True:
                part = await receive()
                chunks.append(part.get("body", b""))
                if not part.get("more_body"):
                    break
            body = b"".join(chunks)
            message = {"type": "http.request", "body": body, "more_body": False}
            query = json.loads(body or b"{}").get("select_query", "")
            if any(ch.isdigit() and query[i + 1 : i + 2] == "%" and query[i + 2 : i + 3].isdigit()
                   for i, ch in enumerate(query)):  # fmt: skip
                self.refused += 1
                answer = json.dumps(
                    {"code": "INVALID_QUERY", "details": {}, "message": "invalid query formed",
                     "status": "error"}
                ).encode()  # fmt: skip
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json")]})  # fmt: skip
                await send({"type": "http.response.body", "body": answer})
                return
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if replayed:
                    return {"type": "http.disconnect"}
                replayed = True
                return message

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


async def _lookup(org: Org, app: Any) -> tuple[PointLookup, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=transport(app), base_url=BASE_URL)
    settings = Settings(scenario={"top_manager": TOP_EMAIL})
    return PointLookup(org.client(http), settings), http


async def _seed(app: Any) -> None:
    async with httpx.AsyncClient(transport=transport(app), base_url=BASE_URL) as http:
        leads = [{"Last_Name": f"L{k}", "Phone": v} for k, v in TYPED.items()]
        (await http.post("/__emulator__/seed", json={"Leads": leads})).raise_for_status()


async def test_every_typed_number_is_found() -> None:
    org = Org()
    await _seed(org.app)
    lookup, http = await _lookup(org, org.app)
    async with http:
        found = await lookup(list(TYPED))
    assert sorted(p.key for r in found for p in r.phones) == sorted(TYPED)


async def test_a_zoho_that_refuses_the_pattern_is_asked_for_the_plain_digits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    org = Org()
    await _seed(org.app)
    refusing = RefusesSpreadPatterns(org.app)
    lookup, http = await _lookup(org, refusing)
    with caplog.at_level(logging.WARNING):
        async with http:
            first = await lookup(list(TYPED))
            again = await lookup(list(TYPED))
    plain = ["930001033"]  # only the value with the digits together
    assert sorted(p.key for r in first for p in r.phones) == plain
    assert sorted(p.key for r in again for p in r.phones) == plain
    assert refusing.refused == 2  # Leads and Contacts the first time, then never again
    said = [r.getMessage() for r in caplog.records if "typed-number lookup" in r.getMessage()]
    assert len(said) == 1
