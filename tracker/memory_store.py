"""The in-process swarm store: one tracker, state lost on restart, compact per-peer records.

Replies are slices of per-swarm pools of peers in compact form (:mod:`tracker.reply_pool`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator

from tracker.announce import NO_PEERS, Announce, Event, PeerList, SwarmStats
from tracker.bans import Ban
from tracker.errors import SwarmConflict, SwarmFull, UnknownSwarm
from tracker.peer_records import (
    OWNER_TAG_LENGTH,
    SEEDER_FLAG,
    TAIL,
    TAIL_SIZE,
    owner_tag,
    pack_record,
    packed_address,
    record_last_seen,
    record_seeder,
)
from tracker.reply_pool import POOL_SIZE, RESAMPLE_SECONDS, ReplyPools
from tracker.swarm_store import PeerView, StoreTotals, Swarm, SwarmReport

DEFAULT_MAX_PEERS = 2_000_000
# Peers looked at by the stale sweep between two turns of the event loop.
PURGE_SLICE = 20_000


class _SwarmPeers:
    """Peers of one announced hash with counts kept up to date on every change."""

    __slots__ = ("bytes_downloaded", "bytes_uploaded", "completed", "peers", "pools", "seeders")

    def __init__(self, pool_size: int = POOL_SIZE) -> None:
        self.peers: dict[bytes, bytes] = {}
        self.seeders = 0
        self.completed = 0
        self.bytes_uploaded = 0
        self.bytes_downloaded = 0
        self.pools = ReplyPools(size=pool_size)

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
        if stale:
            self.pools.valid_until = float("-inf")
        return len(stale)


class MemorySwarmStore:
    """A :class:`SwarmStore` in this process's memory."""

    def __init__(
        self,
        peer_lifetime: float,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_peers: int = DEFAULT_MAX_PEERS,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self._peer_lifetime = int(peer_lifetime)
        self._clock = clock
        self._rng = rng or random.Random()
        self._max_peers = max_peers
        # Peers of one swarm kept ready for replies (tracker.reply_pool).
        self._pool_size = pool_size
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
            self._peers.setdefault(info_hash, _SwarmPeers(self._pool_size))
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

    def cached_swarm(self, info_hash: bytes) -> Swarm | None:
        return self._swarms.get(info_hash)

    async def swarms(self) -> list[Swarm]:
        return list(dict.fromkeys(self._swarms.values()))

    # Sans-IO: the tracker's transports call this form directly, without awaiting anything.
    answers_at_once = True

    async def announce(
        self, announce: Announce, ip: str, owner: str
    ) -> tuple[SwarmStats, PeerList]:
        return self.announce_at_once(announce, ip, owner)

    def announce_at_once(
        self, announce: Announce, ip: str, owner: str
    ) -> tuple[SwarmStats, PeerList]:
        swarm_peers = self._peers.get(announce.info_hash)
        if swarm_peers is None:
            raise UnknownSwarm("info_hash is not registered with this tracker")
        key = owner_tag(owner) + announce.peer_id
        previous = swarm_peers.peers.pop(key, None)
        if previous is not None and previous[-TAIL_SIZE] & SEEDER_FLAG:
            swarm_peers.seeders -= 1
        stopped = announce.event is Event.STOPPED
        if previous is None:
            if not stopped:
                if self._peer_count >= self._max_peers:
                    raise SwarmFull("the tracker is full; try again later")
                self._peer_count += 1
            flags, seen, uploaded, downloaded = 0, 0, 0, 0
        else:
            if stopped:
                self._peer_count -= 1
            # Seeder flag, last seen and byte counters of the peer's previous announce.
            flags, seen, uploaded, downloaded = TAIL.unpack_from(
                previous, len(previous) - TAIL_SIZE
            )
        swarm_peers.bytes_uploaded += max(announce.uploaded - uploaded, 0)
        swarm_peers.bytes_downloaded += max(announce.downloaded - downloaded, 0)
        was_seeder = bool(flags & SEEDER_FLAG)
        pools = swarm_peers.pools
        if stopped:
            if previous is not None:
                pools.remove(previous[:-TAIL_SIZE], announce.peer_id, was_seeder)
            return swarm_peers.stats(), NO_PEERS
        if announce.event is Event.COMPLETED and not was_seeder:
            swarm_peers.completed += 1
        now = int(self._clock())
        seeder = announce.left == 0
        record = pack_record(
            packed_address(ip), announce.port, seeder, now, announce.uploaded, announce.downloaded
        )
        swarm_peers.peers[key] = record
        if seeder:
            swarm_peers.seeders += 1
        compact = record[:-TAIL_SIZE]
        if previous is None:
            pools.add(compact, announce.peer_id, seeder, now)
        elif (
            was_seeder != seeder
            or previous[:-TAIL_SIZE] != compact
            # A peer back from silence may have been left out of the pools as stale.
            or seen < now - self._peer_lifetime
        ):
            pools.remove(previous[:-TAIL_SIZE], announce.peer_id, was_seeder)
            pools.add(compact, announce.peer_id, seeder, now)
        peer_count = len(swarm_peers.peers)
        stats = SwarmStats(
            swarm_peers.seeders, peer_count - swarm_peers.seeders, swarm_peers.completed
        )
        if not announce.numwant:
            return stats, NO_PEERS
        if now > pools.valid_until:
            pools = swarm_peers.pools = self._rebuild_pools(swarm_peers.peers, now)
        return stats, pools.pick(compact, announce.peer_id, seeder, announce.numwant, self._rng)

    def _rebuild_pools(self, peers: dict[bytes, bytes], now: int) -> ReplyPools:
        """Pools of the swarm's live peers: all of them, or a sample of a big swarm."""
        resample_at: float = float("inf")
        chosen: Iterable[tuple[bytes, bytes]] = peers.items()
        size = self._pool_size
        if len(peers) > size:
            # A run of peers from a random place in announce order, wrapping round the end.
            start = self._rng.randrange(len(peers))
            chosen = itertools.chain(
                itertools.islice(peers.items(), start, start + size),
                itertools.islice(peers.items(), max(start + size - len(peers), 0)),
            )
            # float(): mypyc keeps a float variable unboxed and takes no int into it.
            resample_at = float(now + RESAMPLE_SECONDS)
        oldest = now - self._peer_lifetime
        earliest = [now]

        def live() -> Iterator[tuple[bytes, bytes, bool]]:
            for key, raw in chosen:
                seen = record_last_seen(raw)
                if seen >= oldest:
                    earliest[0] = min(earliest[0], seen)
                    yield raw[:-TAIL_SIZE], key[OWNER_TAG_LENGTH:], record_seeder(raw)

        pools = ReplyPools.build(live(), resample_at, size)
        # Until the least recently seen pooled peer turns stale.
        pools.valid_until = min(resample_at, earliest[0] + self._peer_lifetime)
        return pools

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
            views.append(PeerView.stored(key, raw, now))
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
