"""Refunds reach the tracker at once: the library's CloudEvents stream, read by every instance.

The library API appends CloudEvents JSON (field ``event``) to a Redis Stream. Each tracker
instance reads it with XREAD from the newest entry at start-up (not a consumer group: every
instance must drop its own cached answers) and calls back on ``library.game.revoked``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from peerpipe.logs import fields
from peerpipe.streams import follow_stream
from tracker.errors import TrackerError

GAME_REVOKED = "library.game.revoked"
BLOCK_MS = 1000

log = logging.getLogger("tracker.revocations")

OnRevoked = Callable[[str, str], Awaitable[object]]


def revoked_game(raw: dict[bytes, bytes]) -> tuple[str, str] | None:
    """``(user_id, game_id)`` of a revocation entry; None for any other or malformed entry."""
    try:
        body = json.loads(raw[b"event"])
    except (KeyError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("type") != GAME_REVOKED:
        return None
    data = body.get("data")
    if not isinstance(data, dict):
        return None
    user_id, game_id = data.get("user_id"), data.get("game_id")
    if not isinstance(user_id, str) or not isinstance(game_id, str):
        return None
    return user_id, game_id


class RevocationFeed(Protocol):
    async def start(self, on_revoked: OnRevoked) -> None: ...

    async def close(self) -> None: ...


class NoRevocationFeed:
    """Without Redis, a refund takes effect when the cached answer expires (the TTL)."""

    async def start(self, on_revoked: OnRevoked) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisRevocationFeed:
    def __init__(self, client: redis.Redis, stream: str) -> None:
        self._redis = client
        self._stream = stream
        self._task: asyncio.Task[None] | None = None

    async def start(self, on_revoked: OnRevoked) -> None:
        try:
            newest: Any = await self._redis.xrevrange(self._stream, count=1)
        except (RedisError, OSError) as exc:
            raise TrackerError(f"cannot reach Redis to follow library events: {exc}") from None
        last = newest[0][0].decode() if newest else "0-0"
        self._task = asyncio.create_task(self._follow(last, on_revoked))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, last: str, on_revoked: OnRevoked) -> None:
        async def apply(entry_id: str, raw: dict[bytes, bytes]) -> None:
            revoked = revoked_game(raw)
            if revoked is None:
                return
            try:
                await on_revoked(*revoked)
            except Exception:
                log.exception("revocation failed", extra=fields(id=entry_id))

        await follow_stream(self._redis, self._stream, last, apply, log, BLOCK_MS)
