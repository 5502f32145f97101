"""One process competing for the Zoho token refresh claim of a state store:
``python -m tests.support.token_claimer STORE_URL ACCOUNTS_URL ROUNDS FLAG_FILE``.

It prints ``ready``, waits for a line on standard input (so that many start at once), then tries
ROUNDS times to claim the refresh; each claim it wins asks the Zoho emulator for a token and
saves it, which ends the claim. While it holds the claim it holds FLAG_FILE, created with
O_EXCL: finding it there means another process holds the claim too (an overlap). It prints one
JSON line: ``{"claims": n, "overlaps": n}``.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr

from models.settings import ZohoSettings
from tasks.lease import process_identity
from tasks.store import Store
from tasks.zoho.token_store import SharedTokens


def main(url: str, accounts: str, rounds: int, flag: Path) -> int:
    settings = ZohoSettings(
        accounts_url=accounts,
        api_domain=accounts,
        client_id=SecretStr("1000.client"),
        client_secret=SecretStr("secret"),
        refresh_token=SecretStr("1000.refresh"),
    )
    store = Store(url)
    tokens = SharedTokens(store, settings, owner=process_identity())
    form = {
        "grant_type": "refresh_token",
        "client_id": "1000.client",
        "client_secret": "secret",
        "refresh_token": "1000.refresh",
    }
    print("ready", flush=True)
    sys.stdin.readline()
    claims = overlaps = 0
    with httpx.Client(timeout=60) as http:
        for _ in range(rounds):
            if not tokens.claim():
                continue
            claims += 1
            try:
                os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                mine = True
            except FileExistsError:
                overlaps += 1
                mine = False
            body = http.post(f"{accounts}/oauth/v2/token", data=form).json()
            if mine:
                flag.unlink()  # before the claim ends: the next claimant may create it at once
            if "access_token" in body:
                expires = datetime.now(UTC) + timedelta(seconds=int(body["expires_in"]))
                tokens.save(str(body["access_token"]), accounts, expires)
            else:  # the emulator's mint limit: nothing to save, the claim ends all the same
                tokens.release()
    store.close()
    print(json.dumps({"claims": claims, "overlaps": overlaps}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])))
