"""The library's ownership answers as the tracker caches them."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from tracker_loopback import OWNER, PLATFORM_KEY, Library

from tracker import AccessChecker


async def test_answers_in_use_are_refreshed_before_they_expire(library: Library) -> None:
    now = [1000.0]
    async with aiohttp.ClientSession() as session:
        checker = AccessChecker(session, library.url, PLATFORM_KEY, ttl=10, clock=lambda: now[0])
        try:
            assert (await checker.check(OWNER, "game-1")).allowed
            assert library.calls == 1
            library.owners[OWNER] = set()  # refunded
            now[0] += 4
            assert checker.cached(OWNER, "game-1") is not None  # young: used as it is
            assert library.calls == 1
            now[0] += 2
            # Past half its life: still answered at once, and asked again in the background.
            decision = checker.cached(OWNER, "game-1")
            assert decision is not None and decision.allowed
            deadline = time.monotonic() + 10
            while (refreshed := checker.cached(OWNER, "game-1")) is None or refreshed.allowed:
                assert time.monotonic() < deadline, "the answer was never refreshed"
                await asyncio.sleep(0.01)
            assert refreshed.reason == "game not in library"
            assert library.calls == 2
        finally:
            await checker.close()
