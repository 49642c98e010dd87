"""Several trackers on one Redis, and refunds in the library reaching the tracker."""

from __future__ import annotations

import aiohttp
import pytest
import redis.asyncio as redis
from tracker_loopback import (
    OTHER_OWNER,
    OWNER,
    REDIS_URL,
    Library,
    StartTracker,
    announce,
    compact_ports,
    eventually,
    info_hash,
    register_swarm,
    unique_prefix,
)

from library_api.events import GAME_REVOKED, library_event
from library_api.redis_events import RedisStreamEventBus
from tracker import TrackerOptions

GAME_HASH = info_hash("game-1 redis")


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_two_trackers_sharing_redis_give_each_other_peers(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    first = await start_tracker()
    second = await start_tracker()
    await register_swarm(http, first.url, "game-1", GAME_HASH)
    await announce(http, first.url, OWNER, GAME_HASH, peer=1, port=7001)
    reply = await announce(http, second.url, OTHER_OWNER, GAME_HASH, peer=2, port=7002)
    assert compact_ports(reply) == {7001}
    again = await announce(http, first.url, OWNER, GAME_HASH, peer=1, port=7001)
    assert compact_ports(again) == {7002}
    assert (again[b"complete"], again[b"incomplete"]) == (0, 2)


def refused(reply: dict[bytes, object]) -> bool:
    reason = reply.get(b"failure reason")
    return isinstance(reason, bytes) and reason.startswith(b"access denied")


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_a_refund_reaches_every_tracker_at_once_through_the_event_stream(
    start_tracker: StartTracker, library: Library, http: aiohttp.ClientSession
) -> None:
    stream = unique_prefix() + "events"
    options = TrackerOptions(events_stream=stream)
    first = await start_tracker(options)
    second = await start_tracker(options)
    await register_swarm(http, first.url, "game-1", GAME_HASH)
    for tracker in (first, second):
        assert b"peers" in await announce(http, tracker.url, OWNER, GAME_HASH, peer=1)
    bus = RedisStreamEventBus(REDIS_URL, stream)
    await bus.start()
    try:
        library.owners[OWNER].discard("game-1")
        await bus.publish(library_event(GAME_REVOKED, "user-aaaa", game_id="game-1"))
        for tracker in (first, second):
            url = tracker.url

            async def gone(url: str = url) -> bool:
                return refused(await announce(http, url, OWNER, GAME_HASH, peer=1))

            # The cached answer would stand for 60 s; the event takes it away within moments.
            assert await eventually(gone, "the refund to take effect", seconds=5) < 5
    finally:
        await bus.close()
        client = redis.from_url(REDIS_URL)
        await client.delete(stream)
        await client.aclose()
    assert b"peers" in await announce(http, first.url, OTHER_OWNER, GAME_HASH, peer=2)


async def test_without_redis_a_refund_takes_effect_within_the_cache_ttl(
    start_tracker: StartTracker, library: Library, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker(access_cache_ttl=1.0)
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    assert b"peers" in await announce(http, tracker.url, OWNER, GAME_HASH, peer=1)
    library.owners[OWNER].discard("game-1")

    async def gone() -> bool:
        return refused(await announce(http, tracker.url, OWNER, GAME_HASH, peer=1))

    assert await eventually(gone, "the cached answer to expire", seconds=5) <= 2.0
