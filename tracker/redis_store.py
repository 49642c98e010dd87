"""The Redis swarm store: several tracker processes share swarms, peers, counts and bans.

Per announced hash (hex ``h``) under the configured prefix: ``swarm:h`` (registration),
``peers:h`` (peer key -> packed record), ``seen:h`` (sorted set by last announce, for expiry)
and ``counts:h`` (seeders, completed, bytes). Lua scripts keep each announce atomic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

import redis.asyncio as redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from tracker.announce import NO_PEERS, Announce, Event, PeerList, SwarmStats
from tracker.bans import Ban
from tracker.errors import SwarmConflict, SwarmFull, UnknownSwarm
from tracker.peer_records import (
    PeerRecord,
    packed_address,
    peer_key,
)
from tracker.redis_scripts import ANNOUNCE, PURGE, REGISTER
from tracker.swarm_store import (
    NOT_CACHED,
    NotCached,
    PeerView,
    StoreTotals,
    Swarm,
    SwarmReport,
)

# Lua numbers are doubles: byte counters are clamped where they stay exact.
_MAX_EXACT = 2**53
DEFAULT_MAX_PEERS_PER_SWARM = 200_000
# How long a registration lookup is reused; unregistering still takes effect at once because
# the announce script checks the registration itself.
REGISTRY_CACHE_SECONDS = 2.0
_REGISTRY_CACHE_ENTRIES = 10_000


class RedisSwarmStore:
    """A :class:`SwarmStore` in Redis, keys under ``prefix``."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        peer_lifetime: float,
        clock: Callable[[], float] = time.time,
        max_peers_per_swarm: int = DEFAULT_MAX_PEERS_PER_SWARM,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._peer_lifetime = int(peer_lifetime)
        self._clock = clock
        self._max_peers = max_peers_per_swarm
        self._announce = client.register_script(ANNOUNCE)
        self._purge = client.register_script(PURGE)
        self._register = client.register_script(REGISTER)
        self._registry: dict[bytes, tuple[Swarm | None, float]] = {}
        self._batch = ScriptBatch(client, self._announce)

    def _key(self, kind: str, info_hash: bytes | str) -> str:
        hex_hash = info_hash if isinstance(info_hash, str) else info_hash.hex()
        return f"{self._prefix}{kind}:{hex_hash}"

    def _peer_keys(self, info_hash: bytes | str) -> list[str]:
        return [self._key(kind, info_hash) for kind in ("peers", "seen", "counts")]

    async def register(self, swarm: Swarm) -> bool:
        hashes = [info_hash.hex() for info_hash in swarm.info_hashes]
        v2 = swarm.info_hash_v2.hex() if swarm.info_hash_v2 else ""
        answer: list[bytes] = await self._register(
            keys=[self._key("swarm", h) for h in hashes] + [f"{self._prefix}hashes"],
            args=[swarm.game_id, swarm.release, swarm.info_hash_v1.hex(), v2, *hashes],
        )
        if answer[0] == b"conflict":
            raise SwarmConflict(
                f"info-hash {answer[1].decode()} is already registered for"
                f" {answer[2].decode()} release {answer[3].decode()}"
            )
        self._registry.clear()
        return answer[0] == b"new"

    async def unregister(self, info_hash: bytes) -> Swarm | None:
        swarm = await self._lookup(info_hash)
        if swarm is None:
            return None
        async with self._redis.pipeline(transaction=True) as pipe:
            for known in swarm.info_hashes:
                pipe.delete(self._key("swarm", known), *self._peer_keys(known))
                pipe.srem(f"{self._prefix}hashes", known.hex())
            await pipe.execute()
        self._registry.clear()
        return swarm

    # Every announce is a round trip to Redis.
    answers_at_once = False

    def cached_swarm(self, info_hash: bytes) -> Swarm | Literal[NotCached.NOT_CACHED] | None:
        cached = self._registry.get(info_hash)
        if cached is not None and time.monotonic() - cached[1] < REGISTRY_CACHE_SECONDS:
            return cached[0]
        return NOT_CACHED

    async def swarm(self, info_hash: bytes) -> Swarm | None:
        cached = self._registry.get(info_hash)
        now = time.monotonic()
        if cached is not None and now - cached[1] < REGISTRY_CACHE_SECONDS:
            return cached[0]
        swarm = await self._lookup(info_hash)
        if len(self._registry) >= _REGISTRY_CACHE_ENTRIES:
            self._registry.clear()
        self._registry[info_hash] = (swarm, now)
        return swarm

    async def _lookup(self, info_hash: bytes) -> Swarm | None:
        fields: Any = await self._redis.hgetall(self._key("swarm", info_hash))
        return _swarm_from_fields(fields)

    async def swarms(self) -> list[Swarm]:
        hashes: Any = await self._redis.smembers(f"{self._prefix}hashes")
        found: dict[Swarm, None] = {}
        for hex_hash in sorted(hashes):
            swarm = await self._lookup(bytes.fromhex(hex_hash.decode()))
            if swarm is not None:
                found[swarm] = None
        return list(found)

    def announce_at_once(self, announce: Announce, ip: str, owner: str) -> None:
        return None

    async def announce(
        self, announce: Announce, ip: str, owner: str
    ) -> tuple[SwarmStats, PeerList]:
        now = int(self._clock())
        key = peer_key(owner, announce.peer_id)
        uploaded = min(announce.uploaded, _MAX_EXACT)
        downloaded = min(announce.downloaded, _MAX_EXACT)
        record = PeerRecord(
            packed_address(ip), announce.port, announce.is_seeder, now, uploaded, downloaded
        )
        look_at = announce.numwant * 2 + 1 if announce.is_seeder else announce.numwant + 1
        answer: list[Any] = await self._batch.run(
            [*self._peer_keys(announce.info_hash), self._key("swarm", announce.info_hash)],
            [
                key,
                record.pack(),
                int(announce.is_seeder),
                announce.event.value,
                now,
                now - self._peer_lifetime,
                uploaded,
                downloaded,
                look_at if announce.numwant else 0,
                self._max_peers,
                announce.numwant,
            ],
        )
        if answer[0] == -1:
            raise UnknownSwarm("info_hash is not registered with this tracker")
        if answer[0] == -2:
            raise SwarmFull("this swarm is full; try again later")
        stats = SwarmStats(answer[0], answer[1], answer[2])
        if announce.event is Event.STOPPED:
            return stats, NO_PEERS
        # The script hands back compact strings and ids already concatenated.
        return stats, PeerList(answer[3], answer[4], answer[5], answer[6])

    async def stats(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmStats]:
        wanted = list(info_hashes)
        async with self._redis.pipeline(transaction=False) as pipe:
            for info_hash in wanted:
                pipe.exists(self._key("swarm", info_hash))
                pipe.hlen(self._key("peers", info_hash))
                pipe.hmget(self._key("counts", info_hash), ["seeders", "completed"])
            answers = await pipe.execute()
        found: dict[bytes, SwarmStats] = {}
        for at, info_hash in enumerate(wanted):
            exists, total, (seeders, completed) = answers[3 * at : 3 * at + 3]
            if exists:
                complete = int(seeders or 0)
                found[info_hash] = SwarmStats(complete, total - complete, int(completed or 0))
        return found

    async def report(self, info_hash: bytes) -> SwarmReport:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hlen(self._key("peers", info_hash))
            pipe.hgetall(self._key("counts", info_hash))
            total, counts = await pipe.execute()
        seeders = int(counts.get(b"seeders", 0))
        return SwarmReport(
            seeders=seeders,
            leechers=total - seeders,
            completed=int(counts.get(b"completed", 0)),
            bytes_uploaded=int(counts.get(b"uploaded", 0)),
            bytes_downloaded=int(counts.get(b"downloaded", 0)),
        )

    async def peers(self, info_hash: bytes, limit: int) -> list[PeerView]:
        now = int(self._clock())
        views: list[PeerView] = []
        async for key, raw in self._redis.hscan_iter(self._key("peers", info_hash), count=500):
            views.append(PeerView.stored(key, raw, now))
            if len(views) >= limit:
                break
        return views

    async def add_ban(self, ban: Ban) -> None:
        await self._redis.hset(f"{self._prefix}bans", f"{ban.kind} {ban.value}", ban.reason)

    async def bans(self) -> list[Ban]:
        raw: Any = await self._redis.hgetall(f"{self._prefix}bans")
        found = []
        for name, reason in raw.items():
            kind, _, value = name.decode().partition(" ")
            found.append(Ban.create(kind, value, reason.decode()))
        return found

    async def purge_stale(self) -> int:
        oldest = int(self._clock()) - self._peer_lifetime
        hashes: Any = await self._redis.smembers(f"{self._prefix}hashes")
        dropped = 0
        for hex_hash in hashes:
            dropped += int(
                await self._purge(keys=self._peer_keys(hex_hash.decode()), args=[oldest])
            )
        return dropped

    async def totals(self) -> StoreTotals:
        hashes: Any = await self._redis.smembers(f"{self._prefix}hashes")
        async with self._redis.pipeline(transaction=False) as pipe:
            for hex_hash in hashes:
                pipe.hlen(self._key("peers", hex_hash.decode()))
            counts = await pipe.execute()
        return StoreTotals(swarms=len(await self.swarms()), peers=sum(counts))

    async def close(self) -> None:
        await self._redis.aclose()


class ScriptBatch:
    """Runs one script for many concurrent callers in a single pipeline round trip.

    Announces arriving in the same turn of the event loop share one write and one read on
    the Redis connection instead of paying a round trip each.
    """

    def __init__(self, client: redis.Redis, script: AsyncScript) -> None:
        self._redis = client
        self._script = script
        self._waiting: list[tuple[list[Any], list[Any], asyncio.Future[Any]]] = []
        self._running: set[asyncio.Future[None]] = set()

    async def run(self, keys: list[Any], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self._send)
        self._waiting.append((keys, args, future))
        return await future

    def _send(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._execute(batch))
        self._running.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._running.discard)

    async def _execute(self, batch: list[tuple[list[Any], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            answers = await self._pipelined(batch)
            if any(isinstance(answer, NoScriptError) for answer in answers):
                # Redis restarted or flushed its scripts: load ours again, once.
                await self._redis.script_load(self._script.script)
                answers = await self._pipelined(batch)
        except Exception as exc:  # every waiting announce learns of the failure
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _pipelined(
        self, batch: list[tuple[list[Any], list[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        # EVALSHA directly: a pipeline given Script objects checks SCRIPT EXISTS every time.
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers


def _swarm_from_fields(fields: dict[bytes, bytes]) -> Swarm | None:
    if not fields:
        return None
    v2 = fields.get(b"v2", b"")
    return Swarm(
        game_id=fields[b"game_id"].decode(),
        release=int(fields[b"release"]),
        info_hash_v1=bytes.fromhex(fields[b"v1"].decode()),
        info_hash_v2=bytes.fromhex(v2.decode()) if v2 else None,
    )
