"""Per-passkey and per-IP request limits over fixed windows, in-process or in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from peerpipe.logs import fields
from tracker.redis_scripts import RATE

log = logging.getLogger("tracker.rate_limit")

# The in-process counters never hold more keys than this (memory bound under a flood of
# made-up passkeys); when full, the window starts over.
MAX_COUNTED_KEYS = 200_000


def refusal(passkey_count: int, ip_count: int, passkey_limit: int, ip_limit: int) -> str | None:
    if passkey_count > passkey_limit:
        return f"rate limited: more than {passkey_limit} requests for this passkey; slow down"
    if ip_count > ip_limit:
        return f"rate limited: more than {ip_limit} requests from your address; slow down"
    return None


class RateLimiter(Protocol):
    def hit(self, passkey: str, ip: str) -> str | None:
        """Count one request; why it is refused, or None if within the limits.

        Never waits: counts are kept in the process, and shared ones are exchanged in the
        background (it must be called from the running event loop).
        """

    async def close(self) -> None: ...


class MemoryRateLimiter:
    def __init__(
        self,
        passkey_limit: int,
        ip_limit: int,
        window: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._passkey_limit = passkey_limit
        self._ip_limit = ip_limit
        self._window = max(window, 1)
        self._clock = clock
        self._current = -1
        self._counts: dict[str, int] = {}

    def hit(self, passkey: str, ip: str) -> str | None:
        window = int(self._clock() // self._window)
        counts = self._counts
        if window != self._current or len(counts) >= MAX_COUNTED_KEYS:
            counts.clear()
            self._current = window
        passkey_key, ip_key = "p" + passkey, "i" + ip
        passkey_count = counts[passkey_key] = counts.get(passkey_key, 0) + 1
        ip_count = counts[ip_key] = counts.get(ip_key, 0) + 1
        if passkey_count > self._passkey_limit or ip_count > self._ip_limit:
            return refusal(passkey_count, ip_count, self._passkey_limit, self._ip_limit)
        return None

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Counters shared by every tracker instance: ``<prefix>rate:<window>:<p|i>:<name>``.

    Each instance counts locally and adds its counts to Redis in one script call every
    ``flush_seconds``, learning the fleet-wide totals in return; a flood is refused at most
    that much later than with a round trip per request, which would double the cost of
    every announce.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        passkey_limit: int,
        ip_limit: int,
        window: int,
        clock: Callable[[], float] = time.time,
        flush_seconds: float = 0.05,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._passkey_limit = passkey_limit
        self._ip_limit = ip_limit
        self._window = max(window, 1)
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._add = client.register_script(RATE)
        self._current = -1
        self._pending: dict[str, int] = {}
        self._known: dict[str, int] = {}
        self._flusher: asyncio.Task[None] | None = None

    def hit(self, passkey: str, ip: str) -> str | None:
        window = int(self._clock() // self._window)
        if window != self._current or len(self._known) >= MAX_COUNTED_KEYS:
            self._current = window
            self._pending.clear()
            self._known.clear()
        counts = []
        for key in ("p:" + passkey, "i:" + ip):
            pending = self._pending.get(key, 0) + 1
            self._pending[key] = pending
            counts.append(self._known.get(key, 0) + pending)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(window))
        return refusal(counts[0], counts[1], self._passkey_limit, self._ip_limit)

    async def _flush_soon(self, window: int) -> None:
        await asyncio.sleep(self._flush_seconds)
        pending, self._pending = self._pending, {}
        if not pending or window != self._current:
            return
        base = f"{self._prefix}rate:{window}:"
        names = list(pending)
        try:
            totals: list[int] = await self._add(
                keys=[base + name for name in names],
                args=[self._window * 2, *(pending[name] for name in names)],
            )
        except (RedisError, OSError) as exc:
            # Rate limits protect the tracker; they do not authorize anyone. Keep serving.
            log.warning("rate counters not shared", extra=fields(error=str(exc)))
            return
        if window == self._current:
            for name, total in zip(names, totals, strict=True):
                # Requests counted here since the flush began are still pending on top.
                self._known[name] = int(total)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
