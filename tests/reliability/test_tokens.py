"""30 runs in 10 minutes mint at most 2 access tokens: the token lives in the state store."""

from __future__ import annotations

import asyncio

from tasks.pipeline.context import open_context
from tests.reliability.conftest import Services, size


async def _one_run(services: Services) -> None:
    """What every run (sync, reports, backfill, a CLI command) does first: ask Zoho something."""
    async with open_context(services.settings(), clock=services.clock) as ctx:
        await ctx.zoho.users(active_only=True)


def test_thirty_runs_in_ten_minutes_mint_at_most_two_tokens(services: Services) -> None:
    # Zoho's tokens say "3600 s" but this org expires them after 400 s: the second token comes
    # from an INVALID_TOKEN, and every later run shares it.
    services.faults(token_ttl_s=400)
    runs = size(30, 120)
    step = 600 / runs
    for _ in range(runs):
        asyncio.run(_one_run(services))
        services.clock.advance(seconds=step)
    mints = services.stats()["by_route"]["POST /oauth/v2/token"]["requests"]
    print(f"figures: {runs} runs in 10 minutes minted {mints} tokens")
    assert mints <= 2, f"{mints} tokens minted by {runs} runs in 10 minutes"


def test_concurrent_processes_share_one_refresh(services: Services) -> None:
    """Runs starting together: one mints, the others wait for its token (one refresh at a time)."""

    async def together() -> None:
        await asyncio.gather(*(_one_run(services) for _ in range(size(5, 20))))

    asyncio.run(together())
    assert services.stats()["by_route"]["POST /oauth/v2/token"]["requests"] == 1


def test_the_stored_token_is_encrypted_and_never_in_clear(services: Services) -> None:
    asyncio.run(_one_run(services))
    raw = (services.workdir / "state.db").read_bytes()
    wal = services.workdir / "state.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    (token,) = services.zoho_state.access_tokens
    assert token.encode() not in raw
    assert b"1000.refresh" not in raw and b"secret" not in raw
