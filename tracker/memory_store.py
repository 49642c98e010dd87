"""The in-process swarm store: one tracker, state lost on restart, compact per-peer records."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable

from tracker.announce import Announce, Event, Peer, SwarmStats
from tracker.bans import Ban
from tracker.errors import SwarmConflict, SwarmFull, UnknownSwarm
from tracker.peer_records import (
    OWNER_TAG_LENGTH,
    SEEDER_FLAG,
    SEEN,
    TAIL,
    TAIL_SIZE,
    PeerRecord,
    pack_record,
    packed_address,
    peer_key,
    record_last_seen,
    record_seeder,
    seen_bytes,
)
from tracker.swarm_store import PeerView, StoreTotals, Swarm, SwarmReport

DEFAULT_MAX_PEERS = 2_000_000
# Peers looked at by the stale sweep between two turns of the event loop.
PURGE_SLICE = 20_000


class _SwarmPeers:
    """Peers of one announced hash with counts kept up to date on every change."""

    __slots__ = ("bytes_downloaded", "bytes_uploaded", "completed", "peers", "seeders")

    def __init__(self) -> None:
        self.peers: dict[bytes, bytes] = {}
        self.seeders = 0
        self.completed = 0
        self.bytes_uploaded = 0
        self.bytes_downloaded = 0

    def stats(self) -> SwarmStats:
        return SwarmStats(
            complete=self.seeders,
            incomplete=len(self.peers) - self.seeders,
            downloaded=self.completed,
        )

    def remove(self, key: bytes) -> bytes | None:
        raw = self.peers.pop(key, None)
        if raw is not None and record_seeder(raw):
            self.seeders -= 1
        return raw

    def drop_older_than(self, oldest: int) -> int:
        stale = [key for key, raw in self.peers.items() if record_last_seen(raw) < oldest]
        for key in stale:
            self.remove(key)
        return len(stale)


class MemorySwarmStore:
    """A :class:`SwarmStore` in this process's memory."""

    def __init__(
        self,
        peer_lifetime: float,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_peers: int = DEFAULT_MAX_PEERS,
    ) -> None:
        self._peer_lifetime = int(peer_lifetime)
        self._clock = clock
        self._rng = rng or random.Random()
        self._max_peers = max_peers
        self._peer_count = 0
        self._swarms: dict[bytes, Swarm] = {}
        self._peers: dict[bytes, _SwarmPeers] = {}
        self._bans: dict[tuple[str, str], Ban] = {}

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
            gone = self._peers.pop(known_hash, None)
            if gone is not None:
                self._peer_count -= len(gone.peers)
        return swarm

    async def swarm(self, info_hash: bytes) -> Swarm | None:
        return self._swarms.get(info_hash)

    async def swarms(self) -> list[Swarm]:
        return list(dict.fromkeys(self._swarms.values()))

    async def announce(
        self, announce: Announce, ip: str, owner: str
    ) -> tuple[SwarmStats, tuple[Peer, ...]]:
        swarm_peers = self._peers.get(announce.info_hash)
        if swarm_peers is None:
            raise UnknownSwarm("info_hash is not registered with this tracker")
        key = peer_key(owner, announce.peer_id)
        previous = swarm_peers.remove(key)
        if previous is None and announce.event is not Event.STOPPED:
            if self._peer_count >= self._max_peers:
                raise SwarmFull("the tracker is full; try again later")
            self._peer_count += 1
        elif previous is not None and announce.event is Event.STOPPED:
            self._peer_count -= 1
        # Seeder flag and byte counters of the peer's previous announce, if any.
        flags, _, uploaded, downloaded = (
            TAIL.unpack_from(previous, len(previous) - TAIL_SIZE) if previous else (0, 0, 0, 0)
        )
        swarm_peers.bytes_uploaded += max(announce.uploaded - uploaded, 0)
        swarm_peers.bytes_downloaded += max(announce.downloaded - downloaded, 0)
        if announce.event is Event.STOPPED:
            return swarm_peers.stats(), ()
        if announce.event is Event.COMPLETED and not flags & SEEDER_FLAG:
            swarm_peers.completed += 1
        now = int(self._clock())
        swarm_peers.peers[key] = pack_record(
            packed_address(ip),
            announce.port,
            announce.is_seeder,
            now,
            announce.uploaded,
            announce.downloaded,
        )
        if announce.is_seeder:
            swarm_peers.seeders += 1
        return swarm_peers.stats(), self._pick(swarm_peers, key, announce, now)

    def _pick(
        self, swarm_peers: _SwarmPeers, own: bytes, announce: Announce, now: int
    ) -> tuple[Peer, ...]:
        peers = swarm_peers.peers
        wanted = announce.numwant
        if wanted == 0:
            return ()
        # A seeder has nothing to gain from other seeders, so it looks at more candidates.
        look_at = wanted * 2 + 1 if announce.is_seeder else wanted + 1
        keys = list(peers) if len(peers) <= look_at else self._rng.sample(list(peers), look_at)
        # Compared as stored (big-endian bytes order like the numbers): no decoding per peer.
        oldest = seen_bytes(max(now - self._peer_lifetime, 0))
        skip_seeders = announce.is_seeder
        found: list[Peer] = []
        for key in keys:
            raw = peers[key]
            if key == own or raw[SEEN] < oldest or (skip_seeders and raw[-TAIL_SIZE] & 1):
                continue
            found.append(Peer(key[OWNER_TAG_LENGTH:], "", 0, raw[:-TAIL_SIZE]))
        # At most look_at candidates were looked at: trimming once beats counting per peer.
        return tuple(found[:wanted])

    async def stats(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmStats]:
        return {
            info_hash: self._peers[info_hash].stats()
            for info_hash in info_hashes
            if info_hash in self._peers
        }

    async def report(self, info_hash: bytes) -> SwarmReport:
        swarm_peers = self._peers.get(info_hash) or _SwarmPeers()
        return SwarmReport(
            seeders=swarm_peers.seeders,
            leechers=len(swarm_peers.peers) - swarm_peers.seeders,
            completed=swarm_peers.completed,
            bytes_uploaded=swarm_peers.bytes_uploaded,
            bytes_downloaded=swarm_peers.bytes_downloaded,
        )

    async def peers(self, info_hash: bytes, limit: int) -> list[PeerView]:
        swarm_peers = self._peers.get(info_hash) or _SwarmPeers()
        now = int(self._clock())
        views = []
        for key, raw in list(swarm_peers.peers.items())[:limit]:
            record = PeerRecord.unpack(raw)
            views.append(
                PeerView(
                    owner_tag=key[:OWNER_TAG_LENGTH],
                    peer_id=key[OWNER_TAG_LENGTH:],
                    ip=record.ip,
                    port=record.port,
                    seeder=record.seeder,
                    last_seen_age=now - record.last_seen,
                    uploaded=record.uploaded,
                    downloaded=record.downloaded,
                )
            )
        return views

    async def add_ban(self, ban: Ban) -> None:
        self._bans[(ban.kind, ban.value)] = ban

    async def bans(self) -> list[Ban]:
        return list(self._bans.values())

    async def purge_stale(self) -> int:
        oldest = int(self._clock()) - self._peer_lifetime
        dropped = 0
        checked = 0
        for info_hash, swarm_peers in list(self._peers.items()):
            if self._peers.get(info_hash) is not swarm_peers:
                continue  # unregistered while the sweep yielded; its peers are already gone
            gone = swarm_peers.drop_older_than(oldest)
            dropped += gone
            self._peer_count -= gone
            checked += len(swarm_peers.peers) + gone
            if checked >= PURGE_SLICE:
                # A million peers take a while to look at: let announces through meanwhile.
                checked = 0
                await asyncio.sleep(0)
        return dropped

    async def totals(self) -> StoreTotals:
        return StoreTotals(swarms=len(await self.swarms()), peers=self._peer_count)

    async def close(self) -> None:
        self._swarms.clear()
        self._peers.clear()
        self._peer_count = 0
