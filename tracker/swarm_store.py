"""Where swarms and their peers live: the :class:`SwarmStore` interface and its data model.

Two engines implement it: :class:`tracker.memory_store.MemorySwarmStore` (one process) and
:class:`tracker.redis_store.RedisSwarmStore` (several trackers sharing Redis). The app picks one
at start-up and never asks which.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from tracker.announce import HASH_LENGTH, Announce, PeerList, SwarmStats
from tracker.bans import Ban
from tracker.peer_records import OWNER_TAG_LENGTH, PeerRecord


class NotCached(enum.Enum):
    """What :meth:`SwarmStore.cached_swarm` answers when only a look-up in storage can tell."""

    NOT_CACHED = enum.auto()


NOT_CACHED: Literal[NotCached.NOT_CACHED] = NotCached.NOT_CACHED


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


@dataclass(frozen=True)
class SwarmReport:
    """One announced hash of a swarm as operators see it."""

    seeders: int
    leechers: int
    completed: int
    bytes_uploaded: int
    bytes_downloaded: int


@dataclass(frozen=True)
class PeerView:
    """One peer of a swarm as operators see it (never shown to players)."""

    owner_tag: bytes
    peer_id: bytes
    ip: str
    port: int
    seeder: bool
    last_seen_age: int
    uploaded: int
    downloaded: int

    @classmethod
    def stored(cls, key: bytes, raw: bytes, now: int) -> PeerView:
        """The view of a peer kept under ``key`` (owner tag + peer id) as ``raw`` record."""
        record = PeerRecord.unpack(raw)
        return cls(
            owner_tag=key[:OWNER_TAG_LENGTH],
            peer_id=key[OWNER_TAG_LENGTH:],
            ip=record.ip,
            port=record.port,
            seeder=record.seeder,
            last_seen_age=now - record.last_seen,
            uploaded=record.uploaded,
            downloaded=record.downloaded,
        )


class SwarmStore(Protocol):
    """Registered swarms, the peers announcing in them, and operators' bans."""

    async def register(self, swarm: Swarm) -> bool:
        """Register ``swarm``; False if it was already registered exactly so.

        Raises :class:`SwarmConflict` if one of its hashes belongs to another release.
        """

    async def unregister(self, info_hash: bytes) -> Swarm | None:
        """Forget the swarm announced under ``info_hash`` (either hash) and all its peers."""

    # True if announce_at_once() answers without I/O (the transports then skip the event
    # loop's task machinery); otherwise they await announce().
    answers_at_once: bool

    async def swarm(self, info_hash: bytes) -> Swarm | None:
        """The swarm a 20-byte ``info_hash`` belongs to, if registered."""

    def cached_swarm(self, info_hash: bytes) -> Swarm | Literal[NotCached.NOT_CACHED] | None:
        """What :meth:`swarm` would answer, if known without I/O; else NOT_CACHED."""

    async def swarms(self) -> list[Swarm]: ...

    async def announce(
        self, announce: Announce, ip: str, owner: str
    ) -> tuple[SwarmStats, PeerList]:
        """Record the peer ``owner`` announces and pick up to ``numwant`` others (never itself).

        Peers are keyed by (owner, peer id). Raises :class:`UnknownSwarm` if the info-hash is
        not registered and :class:`SwarmFull` if a new peer would exceed the store's bound.
        """

    def announce_at_once(
        self, announce: Announce, ip: str, owner: str
    ) -> tuple[SwarmStats, PeerList] | None:
        """:meth:`announce` without I/O; None, having done nothing, where that is impossible."""

    async def stats(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmStats]:
        """Counts for each registered hash among ``info_hashes``; unregistered ones are left out."""

    async def report(self, info_hash: bytes) -> SwarmReport: ...

    async def peers(self, info_hash: bytes, limit: int) -> list[PeerView]: ...

    async def add_ban(self, ban: Ban) -> None: ...

    async def bans(self) -> list[Ban]: ...

    async def purge_stale(self) -> int:
        """Drop peers not heard from within the peer lifetime; how many were dropped."""

    async def totals(self) -> StoreTotals: ...

    async def close(self) -> None: ...
