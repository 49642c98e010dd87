"""The in-process swarm store: registration, peer selection, counts and expiry."""

from __future__ import annotations

import random

import pytest

from tracker import Announce, Event, MemorySwarmStore, Swarm, SwarmConflict, UnknownSwarm

V1 = b"\x01" * 20
V2 = b"\x02" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def arrival(n: int, left: int = 10, event: Event = Event.EMPTY, numwant: int = 50) -> Announce:
    return Announce(
        info_hash=V1,
        peer_id=bytes([n]) * 20,
        port=6000 + n,
        uploaded=0,
        downloaded=0,
        left=left,
        event=event,
        compact=True,
        numwant=numwant,
    )


@pytest.fixture
async def store() -> MemorySwarmStore:
    swarms = MemorySwarmStore(peer_lifetime=60, clock=Clock(), rng=random.Random(7))
    await swarms.register(Swarm("game-1", 1, V1, V2))
    return swarms


async def test_both_announced_hashes_find_the_swarm(store: MemorySwarmStore) -> None:
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
        await store.announce(arrival(1), "127.0.0.1")


async def test_a_peer_never_receives_itself(store: MemorySwarmStore) -> None:
    _, alone = await store.announce(arrival(1), "127.0.0.1")
    assert alone == ()
    await store.announce(arrival(2), "127.0.0.2")
    stats, peers = await store.announce(arrival(1), "127.0.0.1")
    assert [p.peer_id for p in peers] == [bytes([2]) * 20]
    assert (stats.complete, stats.incomplete) == (0, 2)


async def test_numwant_samples_without_repeats(store: MemorySwarmStore) -> None:
    for n in range(1, 31):
        await store.announce(arrival(n), "127.0.0.1")
    _, peers = await store.announce(arrival(99, numwant=10), "127.0.0.1")
    assert len(peers) == len(set(peers)) == 10
    _, none = await store.announce(arrival(99, numwant=0), "127.0.0.1")
    assert none == ()


async def test_seeders_get_only_leechers_and_completion_is_counted(
    store: MemorySwarmStore,
) -> None:
    await store.announce(arrival(1, left=0), "127.0.0.1")
    await store.announce(arrival(2, left=5), "127.0.0.1")
    stats, _ = await store.announce(arrival(2, left=0, event=Event.COMPLETED), "127.0.0.1")
    assert (stats.complete, stats.incomplete, stats.downloaded) == (2, 0, 1)
    stats, _ = await store.announce(arrival(2, left=0, event=Event.COMPLETED), "127.0.0.1")
    assert stats.downloaded == 1
    await store.announce(arrival(3, left=5), "127.0.0.1")
    _, peers = await store.announce(arrival(1, left=0), "127.0.0.1")
    assert [p.peer_id for p in peers] == [bytes([3]) * 20]


async def test_stopped_peers_leave(store: MemorySwarmStore) -> None:
    await store.announce(arrival(1), "127.0.0.1")
    stats, peers = await store.announce(arrival(1, event=Event.STOPPED), "127.0.0.1")
    assert peers == () and stats.incomplete == 0
    assert (await store.totals()).peers == 0


async def test_silent_peers_expire() -> None:
    clock = Clock()
    store = MemorySwarmStore(peer_lifetime=60, clock=clock)
    await store.register(Swarm("game-1", 1, V1))
    await store.announce(arrival(1), "127.0.0.1")
    clock.now += 59
    _, peers = await store.announce(arrival(2), "127.0.0.1")
    assert len(peers) == 1
    clock.now += 2
    _, peers = await store.announce(arrival(2), "127.0.0.1")
    assert peers == ()
    clock.now += 61
    assert await store.purge_stale() == 1
    assert (await store.totals()).peers == 0
