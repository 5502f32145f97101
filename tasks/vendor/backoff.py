"""The one backoff of the vendor clients: exponential, with jitter, a vendor's wait as a floor.

Attempt ``n`` (0 for the first retry) waits at most ``ceiling = min(max_s, base_s * 2**n)``:

- ``full`` jitter waits uniformly in ``[0, ceiling]``. Zoho sends no ``Retry-After`` and its 429
  often means "too many requests in flight": spreading the retries over the whole range thins
  the crowd fastest.
- ``equal`` jitter waits in ``[ceiling / 2, ceiling]``: never next to nothing, for a vendor whose
  failures are slowness (Ringostat's timeouts and 5xx) rather than a crowd.

A ``Retry-After`` the vendor sent is a floor, capped at ``max_s`` (a vendor asking for an hour
does not stall a run for an hour; the retries then run out and the step fails clearly).

``sleep`` and ``rng`` are injected: tests record the delays and seed the jitter, nothing waits.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import anyio

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Jitter = Literal["full", "equal"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retry ``attempt``, and the wait itself."""

    base_s: float
    max_s: float
    jitter: Jitter = "full"
    sleep: Sleep = anyio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, *, at_least: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (0-based); ``at_least``: the vendor's wait."""
        ceiling = min(self.max_s, self.base_s * 2.0**attempt)
        if self.jitter == "full":
            delay = self.rng.uniform(0.0, ceiling)
        else:
            delay = ceiling / 2 + self.rng.uniform(0.0, ceiling / 2)
        if at_least is not None:
            delay = max(delay, min(at_least, self.max_s))
        return delay

    async def pause(
        self, attempt: int, *, why: str, retries: int, at_least: float | None = None
    ) -> float:
        """Log the retry to come and wait for it; returns the seconds waited.

        ``why`` names the vendor, the request and the failure (never a secret); ``retries`` is
        how many retries the caller allows in all."""
        delay = self.delay(attempt, at_least=at_least)
        log.warning("%s; retry %d of %d in %.2f s", why, attempt + 1, retries, delay)
        await self.sleep(delay)
        return delay
