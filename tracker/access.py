"""Who may join a swarm: the library API decides, the tracker caches its answers briefly.

When the library is unreachable, answers already cached keep working for a while so players
mid-download are not cut off, and questions never asked before are refused (fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from peerpipe.logs import fields
from peerpipe.tokens import Role, mint_token
from tracker.errors import AccessUnavailable

log = logging.getLogger("tracker.access")

ACCESS_PATH = "/api/v1/library/internal/access"
# A refusal is cached only briefly so a player who has just bought the game gets in quickly.
MAX_REFUSAL_TTL = 5.0
# How long a cached answer may stand in for a library that does not answer.
DEFAULT_STALE_LIMIT = 600.0
MAX_CACHE_ENTRIES = 100_000


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str
    user_id: str | None = None


@dataclass(frozen=True)
class _Cached:
    decision: AccessDecision
    fetched_at: float


class AccessChecker:
    """Asks ``GET {library_url}/api/v1/library/internal/access`` whether a passkey owns a game."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        library_url: str,
        platform_key: str,
        ttl: float,
        stale_limit: float = DEFAULT_STALE_LIMIT,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._url = library_url.rstrip("/") + ACCESS_PATH
        self._platform_key = platform_key
        self._ttl = max(0.0, min(ttl, 60.0))
        self._stale_limit = max(stale_limit, self._ttl)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[AccessDecision]] = {}

    async def check(self, passkey: str, game_id: str) -> AccessDecision:
        """Whether ``passkey`` may join swarms of ``game_id``; never raises for a library outage."""
        key = (passkey, game_id)
        cached = self._cache.get(key)
        now = self._clock()
        if cached is not None and now - cached.fetched_at < self._lifetime(cached.decision):
            return cached.decision
        task = self._pending.get(key)
        if task is None:
            # Concurrent announces for the same question share one library request.
            task = asyncio.ensure_future(self._fetch(passkey, game_id))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        try:
            decision = await asyncio.shield(task)
        except AccessUnavailable as exc:
            return self._fallback(key, str(exc))
        self._remember(key, decision)
        return decision

    def _lifetime(self, decision: AccessDecision) -> float:
        return self._ttl if decision.allowed else min(self._ttl, MAX_REFUSAL_TTL)

    def _fallback(self, key: tuple[str, str], problem: str) -> AccessDecision:
        cached = self._cache.get(key)
        age = None if cached is None else self._clock() - cached.fetched_at
        log.warning(
            "library access check failed", extra=fields(game_id=key[1], error=problem, age=age)
        )
        if cached is not None and age is not None and age < self._stale_limit:
            return cached.decision
        return AccessDecision(
            allowed=False, reason=f"cannot verify access right now ({problem}); try again later"
        )

    def _remember(self, key: tuple[str, str], decision: AccessDecision) -> None:
        self._cache.pop(key, None)
        if len(self._cache) >= MAX_CACHE_ENTRIES:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = _Cached(decision=decision, fetched_at=self._clock())

    async def _fetch(self, passkey: str, game_id: str) -> AccessDecision:
        token = mint_token(self._platform_key, "tracker", Role.SERVICE, ttl_seconds=300)
        try:
            async with self._session.get(
                self._url,
                params={"passkey": passkey, "game_id": game_id},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    raise AccessUnavailable(f"library answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise AccessUnavailable(f"library unreachable: {type(exc).__name__}") from None
        return _decision(body)


def _decision(body: object) -> AccessDecision:
    if not isinstance(body, dict) or not isinstance(body.get("allowed"), bool):
        raise AccessUnavailable("library answered without an 'allowed' field")
    user_id = body.get("user_id")
    reason = body.get("reason")
    return AccessDecision(
        allowed=body["allowed"],
        reason=reason if isinstance(reason, str) and reason else "no reason given",
        user_id=user_id if isinstance(user_id, str) else None,
    )
