"""Where swarms and their peers live: the :class:`SwarmStore` interface and its in-process engine.

A Redis engine (several trackers sharing state) implements the same interface; the app picks
one at start-up and never asks which.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from tracker.announce import HASH_LENGTH, Announce, Event, Peer, SwarmStats
from tracker.errors import SwarmConflict, UnknownSwarm


@dataclass(frozen=True)
class Swarm:
    """A registered release: the info-hashes clients announce for it map to one game release.

    ``info_hash_v2`` is the full 32-byte SHA-256 hash; clients announce it truncated to 20.
    """

    game_id: str
    release: int
    info_hash_v1: bytes
    info_hash_v2: bytes | None = None

    @property
    def info_hashes(self) -> tuple[bytes, ...]:
        """The 20-byte hashes clients announce for this release."""
        if self.info_hash_v2 is None:
            return (self.info_hash_v1,)
        return (self.info_hash_v1, self.info_hash_v2[:HASH_LENGTH])


@dataclass(frozen=True)
class StoreTotals:
    swarms: int
    peers: int


class SwarmStore(Protocol):
    """Registered swarms and the peers announcing in them."""

    async def register(self, swarm: Swarm) -> bool:
        """Register ``swarm``; False if it was already registered exactly so.

        Raises :class:`SwarmConflict` if one of its hashes belongs to another release.
        """

    async def unregister(self, info_hash: bytes) -> Swarm | None:
        """Forget the swarm announced under ``info_hash`` (either hash) and all its peers."""

    async def swarm(self, info_hash: bytes) -> Swarm | None:
        """The swarm a 20-byte ``info_hash`` belongs to, if registered."""

    async def swarms(self) -> list[Swarm]: ...

    async def announce(self, announce: Announce, ip: str) -> tuple[SwarmStats, tuple[Peer, ...]]:
        """Record the announcing peer and pick up to ``numwant`` others (never itself).

        Raises :class:`UnknownSwarm` if the info-hash is not registered.
        """

    async def stats(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmStats]:
        """Counts for each registered hash among ``info_hashes``; unregistered ones are left out."""

    async def purge_stale(self) -> int:
        """Drop peers not heard from within the peer lifetime; how many were dropped."""

    async def totals(self) -> StoreTotals: ...

    async def close(self) -> None: ...


@dataclass
class _PeerState:
    ip: str
    port: int
    left: int
    last_seen: float


@dataclass
class _SwarmPeers:
    peers: dict[bytes, _PeerState] = field(default_factory=dict)
    completed: int = 0

    def stats(self) -> SwarmStats:
        seeders = sum(1 for peer in self.peers.values() if peer.left == 0)
        return SwarmStats(
            complete=seeders, incomplete=len(self.peers) - seeders, downloaded=self.completed
        )

    def drop_older_than(self, oldest: float) -> int:
        stale = [peer_id for peer_id, peer in self.peers.items() if peer.last_seen < oldest]
        for peer_id in stale:
            del self.peers[peer_id]
        return len(stale)


class MemorySwarmStore:
    """A :class:`SwarmStore` in this process's memory: one tracker, state lost on restart."""

    def __init__(
        self,
        peer_lifetime: float,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._peer_lifetime = peer_lifetime
        self._clock = clock
        self._rng = rng or random.Random()
        self._swarms: dict[bytes, Swarm] = {}
        self._peers: dict[bytes, _SwarmPeers] = {}

    async def register(self, swarm: Swarm) -> bool:
        for info_hash in swarm.info_hashes:
            known = self._swarms.get(info_hash)
            if known is not None and known != swarm:
                raise SwarmConflict(
                    f"info-hash {info_hash.hex()} is already registered for"
                    f" {known.game_id} release {known.release}"
                )
        if all(info_hash in self._swarms for info_hash in swarm.info_hashes):
            return False
        for info_hash in swarm.info_hashes:
            self._swarms[info_hash] = swarm
            self._peers.setdefault(info_hash, _SwarmPeers())
        return True

    async def unregister(self, info_hash: bytes) -> Swarm | None:
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            return None
        for known_hash in swarm.info_hashes:
            self._swarms.pop(known_hash, None)
            self._peers.pop(known_hash, None)
        return swarm

    async def swarm(self, info_hash: bytes) -> Swarm | None:
        return self._swarms.get(info_hash)

    async def swarms(self) -> list[Swarm]:
        return list(dict.fromkeys(self._swarms.values()))

    async def announce(self, announce: Announce, ip: str) -> tuple[SwarmStats, tuple[Peer, ...]]:
        swarm_peers = self._peers.get(announce.info_hash)
        if swarm_peers is None:
            raise UnknownSwarm("info_hash is not registered with this tracker")
        now = self._clock()
        swarm_peers.drop_older_than(now - self._peer_lifetime)
        if announce.event is Event.STOPPED:
            swarm_peers.peers.pop(announce.peer_id, None)
            return swarm_peers.stats(), ()
        previous = swarm_peers.peers.get(announce.peer_id)
        if announce.event is Event.COMPLETED and (previous is None or previous.left > 0):
            swarm_peers.completed += 1
        swarm_peers.peers[announce.peer_id] = _PeerState(
            ip=ip, port=announce.port, left=announce.left, last_seen=now
        )
        # A seeder has nothing to gain from other seeders.
        candidates = [
            Peer(peer_id=peer_id, ip=peer.ip, port=peer.port)
            for peer_id, peer in swarm_peers.peers.items()
            if peer_id != announce.peer_id and not (announce.is_seeder and peer.left == 0)
        ]
        count = min(announce.numwant, len(candidates))
        return swarm_peers.stats(), tuple(self._rng.sample(candidates, count))

    async def stats(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmStats]:
        oldest = self._clock() - self._peer_lifetime
        found: dict[bytes, SwarmStats] = {}
        for info_hash in info_hashes:
            swarm_peers = self._peers.get(info_hash)
            if swarm_peers is not None:
                swarm_peers.drop_older_than(oldest)
                found[info_hash] = swarm_peers.stats()
        return found

    async def purge_stale(self) -> int:
        oldest = self._clock() - self._peer_lifetime
        return sum(swarm_peers.drop_older_than(oldest) for swarm_peers in self._peers.values())

    async def totals(self) -> StoreTotals:
        peers = sum(len(swarm_peers.peers) for swarm_peers in self._peers.values())
        return StoreTotals(swarms=len(await self.swarms()), peers=peers)

    async def close(self) -> None:
        self._swarms.clear()
        self._peers.clear()
