"""The library's ownership answers as the tracker caches them."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from tracker_loopback import OWNER, PLATFORM_KEY, Library, eventually

from tracker import AccessChecker
from tracker.access import MAX_REFRESHES


async def test_answers_cached_together_are_not_all_asked_for_again_at_once(
    library: Library,
) -> None:
    games = [f"game-{n}" for n in range(2 * MAX_REFRESHES)]
    library.owners[OWNER] = set(games)
    now = [1000.0]
    async with aiohttp.ClientSession() as session:
        checker = AccessChecker(session, library.url, PLATFORM_KEY, ttl=10, clock=lambda: now[0])
        try:
            for game in games:
                assert (await checker.check(OWNER, game)).allowed
            asked = library.calls
            now[0] += 4.9  # before any refresh point: none is asked for
            assert all(checker.cached(OWNER, game) for game in games)
            await asyncio.sleep(0.2)
            assert library.calls == asked
            now[0] += 4.6  # past every refresh point, still within the lifetime
            assert all(checker.cached(OWNER, game) for game in games)

            async def burst_asked() -> bool:
                return library.calls >= asked + MAX_REFRESHES

            # A burst of announces starts a bounded number of background questions...
            await eventually(burst_asked, "the first refreshes", seconds=10)
            await asyncio.sleep(0.2)  # and no more arrive
            assert library.calls == asked + MAX_REFRESHES

            async def all_asked() -> bool:
                # ...and the rest are asked for at later announces.
                assert all(checker.cached(OWNER, game) for game in games)
                return library.calls >= asked + len(games)

            await eventually(all_asked, "the other refreshes", seconds=10)
            assert library.calls == asked + len(games)
        finally:
            await checker.close()


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
            now[0] += 5.5
            # Past nine tenths of its life: still answered at once, and asked again in the
            # background (each answer is refreshed at a point between half and nine tenths).
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
