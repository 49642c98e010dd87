"""Access answers shared by every tracker instance (Redis), or by none (in-process only)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as redis


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str
    user_id: str | None = None


class SharedAccessCache(Protocol):
    async def get(self, passkey: str, game_id: str) -> tuple[AccessDecision, float] | None:
        """A shared answer and its age in seconds, if another instance asked recently."""

    async def put(
        self, passkey: str, game_id: str, decision: AccessDecision, ttl: float, asked_at: float
    ) -> None:
        """Share an answer the library gave to a question asked at ``asked_at`` (wall clock)."""

    async def forget_game(self, game_id: str) -> None:
        """Drop every shared answer about ``game_id`` (a refund or removal happened)."""


class NoSharedCache:
    """One tracker process: its own in-memory cache is all there is."""

    async def get(self, passkey: str, game_id: str) -> tuple[AccessDecision, float] | None:
        return None

    async def put(
        self, passkey: str, game_id: str, decision: AccessDecision, ttl: float, asked_at: float
    ) -> None:
        return None

    async def forget_game(self, game_id: str) -> None:
        return None


class RedisAccessCache:
    """``<prefix>access:<game>:<passkey>`` -> JSON answer, expiring with the cache TTL."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, passkey: str, game_id: str) -> str:
        return f"{self._prefix}access:{game_id}:{passkey}"

    def _index(self, game_id: str) -> str:
        return f"{self._prefix}access-game:{game_id}"

    async def get(self, passkey: str, game_id: str) -> tuple[AccessDecision, float] | None:
        raw = await self._redis.get(self._key(passkey, game_id))
        if raw is None:
            return None
        body = json.loads(raw)
        decision = AccessDecision(
            allowed=bool(body["allowed"]), reason=str(body["reason"]), user_id=body["user_id"]
        )
        return decision, max(time.time() - float(body["at"]), 0.0)

    async def put(
        self, passkey: str, game_id: str, decision: AccessDecision, ttl: float, asked_at: float
    ) -> None:
        if ttl <= 0:
            return
        body = {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "user_id": decision.user_id,
            # The age counts from the question, so a refund after it makes the answer stale.
            "at": asked_at,
        }
        seconds = max(math.ceil(ttl), 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key(passkey, game_id), json.dumps(body), ex=seconds)
            pipe.sadd(self._index(game_id), passkey)
            pipe.expire(self._index(game_id), seconds * 2)
            await pipe.execute()

    async def forget_game(self, game_id: str) -> None:
        passkeys: Any = await self._redis.smembers(self._index(game_id))
        keys = [self._key(passkey.decode(), game_id) for passkey in passkeys]
        await self._redis.delete(self._index(game_id), *keys)
