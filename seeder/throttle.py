"""A serving rate limit shared by every response of a CDN node (a token bucket).

Virtual scheduling (GCRA): each send books ``n / rate`` seconds on one shared clock and
waits until its slot, so concurrent responses split the bandwidth instead of each getting
the whole limit. A small burst allowance keeps short responses from waiting at all.
"""

from __future__ import annotations

import asyncio
import time

BURST_SECONDS = 0.05


class ServingThrottle:
    def __init__(self, bytes_per_second: int) -> None:
        self.rate = max(0, bytes_per_second)
        self._clock = 0.0

    @property
    def limited(self) -> bool:
        return self.rate > 0

    def block_size(self, preferred: int) -> int:
        """A send size that paces smoothly: at most a tenth of a second of bandwidth."""
        if not self.limited:
            return preferred
        return max(16 * 1024, min(preferred, self.rate // 10))

    async def take(self, count: int) -> None:
        """Wait until ``count`` more bytes may be sent."""
        if not self.limited or count <= 0:
            return
        now = time.monotonic()
        start = max(self._clock, now - BURST_SECONDS)
        self._clock = start + count / self.rate
        delay = start - now
        if delay > 0:
            await asyncio.sleep(delay)
