"""Holding chunk fetches over HTTP to the player's download limit.

libtorrent enforces the limit on BitTorrent and web-seed bytes; an update's chunks fetched
straight from a CDN node pass beside it, so they draw on a bucket of their own, refilled at
the limit in force (read at every take: a schedule window or a new setting applies at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# the most a fetch may take at once after an idle while: a burst of a quarter second
BURST_SECONDS = 0.25


class RatePacer:
    """A token bucket shared by every fetch that reads through it. Each ``take`` spends its
    bytes at once and waits until the bucket is back above zero, so concurrent fetches
    queue behind one another's debt and together keep to the limit."""

    def __init__(
        self,
        limit: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limit = limit  # bytes/s in force now; 0: none
        self._clock = clock
        self._sleep = sleep
        self._tokens = 0.0
        self._at = clock()
        self._rate = 0  # the limit of the last take: it refilled the bucket since

    async def take(self, size: int) -> None:
        """Account for ``size`` bytes received; return when the limit allows the next."""
        rate, now = self._limit(), self._clock()
        refilled = self._tokens + (now - self._at) * self._rate
        self._at, self._rate = now, rate
        if rate <= 0:
            self._tokens = 0.0
            return
        self._tokens = min(refilled, rate * BURST_SECONDS) - size
        if self._tokens < 0:
            await self._sleep(-self._tokens / rate)
