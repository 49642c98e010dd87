"""The library's ownership answers as the tracker caches them."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from tracker_loopback import OWNER, PLATFORM_KEY, Library, eventually

from tracker import AccessChecker


async def test_answers_due_together_are_refreshed_together_in_batches(
    library: Library,
) -> None:
    games = [f"game-{n}" for n in range(20)]
    library.owners[OWNER] = set(games)
    now = [1000.0]
    async with aiohttp.ClientSession() as session:
        checker = AccessChecker(
            session, library.url, PLATFORM_KEY, ttl=10, clock=lambda: now[0], refresh_batch=8
        )
        try:
            for game in games:
                assert (await checker.check(OWNER, game)).allowed
            asked = library.calls
            now[0] += 4.9  # before any refresh point: none is asked for
            assert all(checker.cached(OWNER, game) for game in games)
            await asyncio.sleep(0.2)
            assert (library.calls, library.batches) == (asked, [])
            library.owners[OWNER] = set(games[:10])  # half of them refunded meanwhile
            now[0] += 4.6  # past every refresh point, still within the lifetime
            assert all(checker.cached(OWNER, game) for game in games)

            async def all_refreshed() -> bool:
                return sum(library.batches) >= len(games)

            # Twenty answers due at once: three requests, none of them one at a time.
            await eventually(all_refreshed, "the refreshes", seconds=10)
            await asyncio.sleep(0.2)  # and no more arrive
            assert (library.calls, library.batches) == (asked, [8, 8, 4])
            answers = [checker.cached(OWNER, game) for game in games]
            assert [answer is not None and answer.allowed for answer in answers] == [True] * 10 + [
                False
            ] * 10
        finally:
            await checker.close()


async def test_a_failed_refresh_keeps_the_answers_until_they_expire(library: Library) -> None:
    library.owners[OWNER] = {"game-1"}
    now = [1000.0]
    async with aiohttp.ClientSession() as session:
        checker = AccessChecker(session, library.url, PLATFORM_KEY, ttl=10, clock=lambda: now[0])
        try:
            assert (await checker.check(OWNER, "game-1")).allowed
            library.failing_batches = True
            library.owners[OWNER] = set()  # refunded: a refresh that got through would say so
            now[0] += 9.5  # due for a refresh, which fails: the answer stands

            async def asked_again_after_a_failure() -> bool:
                decision = checker.cached(OWNER, "game-1")
                assert decision is not None and decision.allowed
                return len(library.batches) >= 2

            # The failed refresh is followed, a while later, by another at a later announce;
            # the cached answer is used all the while.
            await eventually(asked_again_after_a_failure, "a second refresh", seconds=10)
            assert library.calls == 1
            now[0] += 1.0  # expired: no longer answered from the cache
            assert checker.cached(OWNER, "game-1") is None
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
            assert (library.calls, library.batches) == (1, [1])
        finally:
            await checker.close()
