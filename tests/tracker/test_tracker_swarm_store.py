"""Both swarm store engines (in-process and the real Redis): registration, peers, counts, expiry."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tracker_loopback import delete_prefix, redis_or_skip, unique_prefix

from tracker import (
    Announce,
    Ban,
    Event,
    MemorySwarmStore,
    RedisSwarmStore,
    Swarm,
    SwarmConflict,
    SwarmFull,
    SwarmStore,
    UnknownSwarm,
)
from tracker.rate_limit import RedisRateLimiter
from tracker.reply_pool import RESAMPLE_SECONDS

V1 = b"\x01" * 20
V2 = b"\x02" * 32
ALICE = "user-alice"
BOB = "user-bob"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def arrival(
    n: int,
    left: int = 10,
    event: Event = Event.EMPTY,
    numwant: int = 50,
    uploaded: int = 0,
    downloaded: int = 0,
) -> Announce:
    return Announce(
        info_hash=V1,
        peer_id=bytes([n]) * 20,
        port=6000 + n,
        uploaded=uploaded,
        downloaded=downloaded,
        left=left,
        event=event,
        compact=True,
        numwant=numwant,
    )


MakeStore = Callable[..., Awaitable[SwarmStore]]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    made: list[SwarmStore] = []
    prefix = unique_prefix()
    cleanup = None

    async def make(clock: Clock | None = None, max_peers: int = 1000) -> SwarmStore:
        store: SwarmStore
        if request.param == "memory":
            store = MemorySwarmStore(
                peer_lifetime=60,
                clock=clock or Clock(),
                rng=random.Random(7),
                max_peers=max_peers,
            )
        else:
            client = await redis_or_skip()
            store = RedisSwarmStore(
                client,
                prefix,
                peer_lifetime=60,
                clock=clock or Clock(),
                max_peers_per_swarm=max_peers,
            )
        made.append(store)
        return store

    yield make
    if request.param == "redis":
        cleanup = await redis_or_skip()
        await delete_prefix(cleanup, prefix)
        await cleanup.aclose()
    for store in made:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> SwarmStore:
    swarms = await make_store()
    await swarms.register(Swarm("game-1", 1, V1, V2))
    return swarms


async def test_both_announced_hashes_find_the_swarm(store: SwarmStore) -> None:
    swarm = Swarm("game-1", 1, V1, V2)
    assert await store.swarm(V1) == swarm
    assert await store.swarm(V2[:20]) == swarm
    assert await store.swarms() == [swarm]
    assert await store.register(swarm) is False
    with pytest.raises(SwarmConflict, match="game-1 release 1"):
        await store.register(Swarm("game-2", 1, V1))
    assert await store.unregister(V2[:20]) == swarm
    assert await store.swarm(V1) is None
    with pytest.raises(UnknownSwarm):
        await store.announce(arrival(1), "127.0.0.1", ALICE)


async def test_a_peer_never_receives_itself(store: SwarmStore) -> None:
    _, alone = await store.announce(arrival(1), "127.0.0.1", ALICE)
    assert len(alone) == 0
    await store.announce(arrival(2), "2001:db8::2", BOB)
    stats, peers = await store.announce(arrival(1), "127.0.0.1", ALICE)
    assert [(p.peer_id, p.ip, p.port) for p in peers] == [(bytes([2]) * 20, "2001:db8::2", 6002)]
    assert (stats.complete, stats.incomplete) == (0, 2)


async def test_one_player_cannot_overwrite_anothers_peer(store: SwarmStore) -> None:
    await store.announce(arrival(1), "10.0.0.1", ALICE)
    # Bob announces Alice's peer id from elsewhere: a second entry, Alice's stays as it was.
    stats, peers = await store.announce(arrival(1), "10.0.0.2", BOB)
    assert stats.incomplete == 2
    assert [p.ip for p in peers] == ["10.0.0.1"]
    await store.announce(arrival(1, event=Event.STOPPED), "10.0.0.2", BOB)
    _, peers = await store.announce(arrival(3), "10.0.0.3", BOB)
    assert [p.ip for p in peers] == ["10.0.0.1"]


async def test_numwant_samples_without_repeats(store: SwarmStore) -> None:
    for n in range(1, 31):
        await store.announce(arrival(n), "127.0.0.1", ALICE)
    _, peers = await store.announce(arrival(99, numwant=10), "127.0.0.1", ALICE)
    assert len(peers) == len(set(peers)) == 10
    _, none = await store.announce(arrival(99, numwant=0), "127.0.0.1", ALICE)
    assert len(none) == 0


async def test_seeders_get_only_leechers_and_counts_stay_right(store: SwarmStore) -> None:
    await store.announce(arrival(1, left=0), "127.0.0.1", ALICE)
    await store.announce(arrival(2, left=5, downloaded=100), "127.0.0.1", BOB)
    stats, _ = await store.announce(
        arrival(2, left=0, event=Event.COMPLETED, downloaded=150, uploaded=20), "127.0.0.1", BOB
    )
    assert (stats.complete, stats.incomplete, stats.downloaded) == (2, 0, 1)
    stats, _ = await store.announce(arrival(2, left=0, event=Event.COMPLETED), "127.0.0.1", BOB)
    assert stats.downloaded == 1
    await store.announce(arrival(3, left=5), "127.0.0.1", BOB)
    _, peers = await store.announce(arrival(1, left=0), "127.0.0.1", ALICE)
    assert [p.peer_id for p in peers] == [bytes([3]) * 20]
    report = await store.report(V1)
    assert (report.seeders, report.leechers, report.completed) == (2, 1, 1)
    assert (report.bytes_downloaded, report.bytes_uploaded) == (150, 20)
    assert await store.stats([V1, b"\x09" * 20]) == {V1: stats.__class__(2, 1, 1)}
    views = await store.peers(V1, limit=10)
    assert sorted((v.port, v.seeder) for v in views) == [(6001, True), (6002, True), (6003, False)]


async def test_stopped_peers_leave(store: SwarmStore) -> None:
    await store.announce(arrival(1), "127.0.0.1", ALICE)
    stats, peers = await store.announce(arrival(1, event=Event.STOPPED), "127.0.0.1", ALICE)
    assert len(peers) == 0 and stats.incomplete == 0
    assert (await store.totals()).peers == 0


async def test_silent_peers_expire(make_store: MakeStore) -> None:
    clock = Clock()
    store = await make_store(clock)
    await store.register(Swarm("game-1", 1, V1))
    await store.announce(arrival(1), "127.0.0.1", ALICE)
    clock.now += 59
    _, peers = await store.announce(arrival(2), "127.0.0.1", BOB)
    assert len(peers) == 1
    clock.now += 2
    _, peers = await store.announce(arrival(2), "127.0.0.1", BOB)
    assert len(peers) == 0
    clock.now += 61
    assert await store.purge_stale() >= 1  # Redis may already have dropped the first
    assert (await store.totals()).peers == 0
    assert (await store.report(V1)).leechers == 0


async def test_peers_are_bounded(make_store: MakeStore) -> None:
    store = await make_store(max_peers=2)
    await store.register(Swarm("game-1", 1, V1))
    await store.announce(arrival(1), "127.0.0.1", ALICE)
    await store.announce(arrival(2), "127.0.0.1", ALICE)
    with pytest.raises(SwarmFull, match="full"):
        await store.announce(arrival(3), "127.0.0.1", ALICE)
    await store.announce(arrival(2), "127.0.0.1", ALICE)  # known peers still re-announce


async def test_bans_are_kept(store: SwarmStore) -> None:
    bans = [Ban.create("ip_range", "10.1.2.3/16"), Ban.create("passkey", "abc", "leaked")]
    for ban in bans:
        await store.add_ban(ban)
    assert sorted(await store.bans(), key=str) == sorted(
        [Ban.create("ip_range", "10.1.0.0/16"), Ban.create("passkey", "abc", "leaked")], key=str
    )


async def test_two_redis_stores_share_swarms_and_peers() -> None:
    client = await redis_or_skip()
    prefix = unique_prefix()
    first = RedisSwarmStore(client, prefix, peer_lifetime=60)
    second = RedisSwarmStore(await redis_or_skip(), prefix, peer_lifetime=60)
    try:
        await first.register(Swarm("game-1", 1, V1))
        assert await second.swarm(V1) == Swarm("game-1", 1, V1)
        await first.announce(arrival(1), "10.0.0.1", ALICE)
        _, peers = await second.announce(arrival(2), "10.0.0.2", BOB)
        assert [p.ip for p in peers] == ["10.0.0.1"]
    finally:
        await delete_prefix(client, prefix)
        await first.close()
        await second.close()


async def test_rate_counts_are_shared_through_redis() -> None:
    client = await redis_or_skip()
    prefix = unique_prefix()
    first = RedisRateLimiter(client, prefix, passkey_limit=5, ip_limit=100, window=60)
    second = RedisRateLimiter(client, prefix, passkey_limit=5, ip_limit=100, window=60)
    try:
        for _ in range(3):
            assert first.hit("pk", "10.0.0.1") is None
        deadline = time.monotonic() + 5
        # The second instance learns the fleet's count once its own flush comes back.
        while second.hit("pk", "10.0.0.2") is None:
            assert time.monotonic() < deadline, "counts were never shared"
            await asyncio.sleep(0.02)
        refused = second.hit("pk", "10.0.0.2")
        assert refused is not None and refused.startswith("rate limited: more than 5")
    finally:
        await first.close()
        await second.close()
        await delete_prefix(client, prefix)
        await client.aclose()


async def test_a_peer_that_moves_is_handed_out_at_its_new_address(store: SwarmStore) -> None:
    await store.announce(arrival(1), "10.0.0.1", ALICE)
    _, peers = await store.announce(arrival(2), "10.0.0.2", BOB)
    assert [(p.ip, p.port) for p in peers] == [("10.0.0.1", 6001)]
    await store.announce(arrival(1), "10.0.0.9", ALICE)
    _, peers = await store.announce(arrival(2), "10.0.0.2", BOB)
    assert [(p.ip, p.port) for p in peers] == [("10.0.0.9", 6001)]
    # Becoming a seeder: other seeders no longer get it.
    await store.announce(arrival(2, left=0), "10.0.0.2", BOB)
    await store.announce(arrival(1, left=0), "10.0.0.9", ALICE)
    _, peers = await store.announce(arrival(2, left=0), "10.0.0.2", BOB)
    assert len(peers) == 0


async def test_both_address_families_share_numwant(store: SwarmStore) -> None:
    for n in range(1, 11):
        await store.announce(arrival(n), f"10.0.0.{n}", ALICE)
        await store.announce(arrival(n + 10), f"2001:db8::{n}", ALICE)
    _, peers = await store.announce(arrival(99, numwant=10), "10.0.0.99", BOB)
    families = [":" in p.ip for p in peers]
    assert len(families) == len(set(peers)) == 10
    assert 0 < sum(families) < 10


async def test_every_peer_of_a_swarm_bigger_than_the_pool_gets_its_turn() -> None:
    clock = Clock()
    store = MemorySwarmStore(peer_lifetime=600, clock=clock, rng=random.Random(3), pool_size=8)
    await store.register(Swarm("game-1", 1, V1))
    for n in range(1, 41):
        await store.announce(arrival(n), "127.0.0.1", ALICE)
    seen: set[int] = set()
    for _ in range(40):
        clock.now += RESAMPLE_SECONDS + 1
        _, peers = await store.announce(arrival(99, numwant=5), "127.0.0.1", BOB)
        assert len(peers) == 5 and 6099 not in {p.port for p in peers}
        seen |= {p.port for p in peers}
    assert seen == {6000 + n for n in range(1, 41)}
