"""Who may join a swarm: the library API decides, the tracker caches its answers briefly.

When the library is unreachable, answers already cached keep working for a while so players
mid-download are not cut off, and questions never asked before are refused (fail closed).
With Redis, answers are shared by every tracker instance, and a refund announced on the
library's event stream drops them at once (:meth:`AccessChecker.revoke`); without it a refund
takes effect when the cached answer expires (the TTL, at most 60 s).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from peerpipe.logs import fields
from peerpipe.tokens import Role, mint_token
from tracker.access_cache import AccessDecision, NoSharedCache, SharedAccessCache
from tracker.errors import AccessUnavailable

log = logging.getLogger("tracker.access")

ACCESS_PATH = "/api/v1/library/internal/access"
ACCESS_BATCH_PATH = "/api/v1/library/internal/access/batch"
# A refusal is cached only briefly so a player who has just bought the game gets in quickly.
MAX_REFUSAL_TTL = 5.0
# How long a cached answer may stand in for a library that does not answer.
DEFAULT_STALE_LIMIT = 600.0
MAX_CACHE_ENTRIES = 100_000
# Refunds are remembered this long to reject shared answers asked for before them (past the
# longest cache TTL, such answers have expired anyway).
REVOCATION_MEMORY = 120.0
# A cached answer used after this fraction of its lifetime is refreshed in the background: a
# point drawn for each answer, so answers cached together (a tracker's first minute, a restart)
# are not all asked for again in the same second.
REFRESH_AHEAD = (0.5, 0.9)
# Answers refreshed per library request (the library takes up to 500): one request for many,
# as answers in use come due by the hundred a second on a busy tracker.
REFRESH_BATCH = 200
# Answers waiting for a refresh at most; past it, an answer is refreshed at a later announce.
MAX_DUE = 10_000
# After a refresh request failed (the library is down), the next waits this long.
REFRESH_RETRY_SECONDS = 1.0
SERVICE_TOKEN_SECONDS = 300


@dataclass(frozen=True)
class CachedAnswer:
    decision: AccessDecision
    fetched_at: float
    # Before this (on ``AccessChecker.clock``) the answer is fresh and needs no refresh.
    refresh_at: float


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
        shared: SharedAccessCache | None = None,
        refresh_batch: int = REFRESH_BATCH,
    ) -> None:
        self._session = session
        self._url = library_url.rstrip("/") + ACCESS_PATH
        self._batch_url = library_url.rstrip("/") + ACCESS_BATCH_PATH
        self._refresh_batch = max(1, min(refresh_batch, 500))
        self._platform_key = platform_key
        self._ttl = max(0.0, min(ttl, 60.0))
        self._stale_limit = max(stale_limit, self._ttl)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.clock = clock
        self._shared: SharedAccessCache = shared or NoSharedCache()
        # By (passkey, game_id). Public so the announce path can read an answer that needs no
        # refresh without a call into this (interpreted) class: see ``gate``.
        self.answers: dict[tuple[str, str], CachedAnswer] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[AccessDecision]] = {}
        # Answers past their refresh point, waiting for (or in) a refresh request, oldest first.
        self._due: dict[tuple[str, str], None] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._revocations = 0
        # Wall-clock times: when each pending library question was asked, and of recent refunds.
        self._asked_at: dict[tuple[str, str], float] = {}
        self._revoked_at: dict[str, float] = {}
        self._token = ""
        self._token_renew_at = float("-inf")

    def cached(self, passkey: str, game_id: str) -> AccessDecision | None:
        """The answer :meth:`check` would give from this process's cache, if it is fresh.

        An answer past half its lifetime or more (see ``REFRESH_AHEAD``) is asked for again in
        the background, so players who keep announcing never wait for the library (it must be
        called on the event loop).
        """
        key = (passkey, game_id)
        cached = self.answers.get(key)
        if cached is None:
            return None
        now = self.clock()
        if now - cached.fetched_at >= self._lifetime(cached.decision):
            return None
        if now >= cached.refresh_at and key not in self._due and len(self._due) < MAX_DUE:
            self._due[key] = None
            if self._refresher is None or self._refresher.done():
                self._refresher = asyncio.ensure_future(self._refresh_due())
        return cached.decision

    async def _refresh_due(self) -> None:
        """Ask again, in batches, for the answers that came due; until none is waiting."""
        while self._due:
            batch = list(itertools.islice(self._due, self._refresh_batch))
            revocations = self._revocations
            asked_at = time.time()
            try:
                decisions = await self._fetch_many(batch)
            except AccessUnavailable as exc:
                # The cached answers stand until they expire; check() decides after that.
                log.warning("access refresh failed", extra=fields(error=str(exc), due=len(batch)))
                for key in batch:
                    self._due.pop(key, None)
                await asyncio.sleep(REFRESH_RETRY_SECONDS)
                continue
            for key, decision in zip(batch, decisions, strict=True):
                self._due.pop(key, None)
                if revocations == self._revocations:
                    self._remember(key, decision)
                    await self._share(key, decision, asked_at)

    async def close(self) -> None:
        """Stop background refreshes (the app is stopping)."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)

    async def check(self, passkey: str, game_id: str) -> AccessDecision:
        """Whether ``passkey`` may join swarms of ``game_id``; never raises for a library outage."""
        key = (passkey, game_id)
        fresh = self.cached(passkey, game_id)
        if fresh is not None:
            return fresh
        revocations = self._revocations
        task = self._pending.get(key)
        if task is None:
            shared = await self._shared_answer(key)
            if shared is not None:
                return shared
            # While the shared cache was asked, a concurrent check may have asked the library.
            fresh = self.cached(passkey, game_id)
            if fresh is not None:
                return fresh
            task = self._pending.get(key)
        if task is None:
            # Concurrent announces for the same question share one library request.
            task = asyncio.ensure_future(self._fetch(passkey, game_id))
            self._pending[key] = task
            self._asked_at[key] = time.time()
            task.add_done_callback(lambda done: self._forget_pending(key, done))
        asked_at = self._asked_at.get(key, time.time())
        try:
            decision = await asyncio.shield(task)
        except AccessUnavailable as exc:
            return self._fallback(key, str(exc))
        if revocations == self._revocations:
            self._remember(key, decision)
            await self._share(key, decision, asked_at)
        return decision

    def _forget_pending(self, key: tuple[str, str], done: asyncio.Task[AccessDecision]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
            self._asked_at.pop(key, None)

    async def _share(self, key: tuple[str, str], decision: AccessDecision, asked_at: float) -> None:
        try:
            await self._shared.put(*key, decision, self._lifetime(decision), asked_at)
        except Exception as exc:  # the shared cache is an optimisation; the library decides
            log.warning("shared access cache unavailable", extra=fields(error=repr(exc)))

    async def _shared_answer(self, key: tuple[str, str]) -> AccessDecision | None:
        revocations = self._revocations
        try:
            found = await self._shared.get(*key)
        except Exception as exc:  # the shared cache is an optimisation; the library decides
            log.warning("shared access cache unavailable", extra=fields(error=repr(exc)))
            return None
        if found is None or found[1] >= self._lifetime(found[0]):
            return None
        decision, age = found
        # An answer asked for before a refund we have heard of is stale, whoever shared it.
        if revocations != self._revocations or (
            time.time() - age <= self._revoked_at.get(key[1], float("-inf"))
        ):
            return None
        self._remember(key, decision, age)
        return decision

    async def revoke(self, game_id: str) -> int:
        """Forget every answer about ``game_id`` here and in the shared cache.

        A refund names one user, but family members borrowing the game lose it too; re-asking
        for every player of the game costs no more than the TTL makes the cache ask anyway.
        """
        now = time.time()
        self._revoked_at = {
            game: moment
            for game, moment in self._revoked_at.items()
            if now - moment < REVOCATION_MEMORY
        }
        self._revoked_at[game_id] = now
        stale = [key for key in self.answers if key[1] == game_id]
        for key in stale:
            del self.answers[key]
        # An answer in flight may predate the refund: later questions do not share it, and it
        # is not cached (see ``check``).
        for key in [key for key in self._pending if key[1] == game_id]:
            del self._pending[key]
        self._revocations += 1
        await self._shared.forget_game(game_id)
        return len(stale)

    def _service_token(self) -> str:
        # One token for many questions: signing one per question costs as much as asking.
        now = time.monotonic()
        if now >= self._token_renew_at:
            self._token = mint_token(
                self._platform_key, "tracker", Role.SERVICE, ttl_seconds=SERVICE_TOKEN_SECONDS
            )
            self._token_renew_at = now + SERVICE_TOKEN_SECONDS / 2
        return self._token

    def _lifetime(self, decision: AccessDecision) -> float:
        return self._ttl if decision.allowed else min(self._ttl, MAX_REFUSAL_TTL)

    def _fallback(self, key: tuple[str, str], problem: str) -> AccessDecision:
        cached = self.answers.get(key)
        age = None if cached is None else self.clock() - cached.fetched_at
        log.warning(
            "library access check failed", extra=fields(game_id=key[1], error=problem, age=age)
        )
        if cached is not None and age is not None and age < self._stale_limit:
            return cached.decision
        return AccessDecision(
            allowed=False, reason=f"cannot verify access right now ({problem}); try again later"
        )

    def _remember(self, key: tuple[str, str], decision: AccessDecision, age: float = 0.0) -> None:
        self.answers.pop(key, None)
        if len(self.answers) >= MAX_CACHE_ENTRIES:
            del self.answers[next(iter(self.answers))]
        fetched_at = self.clock() - age
        ahead = self._lifetime(decision) * random.uniform(*REFRESH_AHEAD)
        self.answers[key] = CachedAnswer(decision, fetched_at, refresh_at=fetched_at + ahead)

    async def _fetch(self, passkey: str, game_id: str) -> AccessDecision:
        params = {"passkey": passkey, "game_id": game_id}
        return _decision(await self._ask("GET", self._url, params=params))

    async def _fetch_many(self, keys: list[tuple[str, str]]) -> list[AccessDecision]:
        questions = [{"passkey": passkey, "game_id": game_id} for passkey, game_id in keys]
        body = await self._ask("POST", self._batch_url, json={"questions": questions})
        answers = body.get("answers") if isinstance(body, dict) else None
        if not isinstance(answers, list) or len(answers) != len(keys):
            raise AccessUnavailable("library answered a batch without an answer to each question")
        return [_decision(answer) for answer in answers]

    async def _ask(self, method: str, url: str, **request: Any) -> object:
        """The library's decoded JSON answer, or :class:`AccessUnavailable` saying why not."""
        token = self._service_token()
        try:
            async with self._session.request(
                method,
                url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
                **request,
            ) as response:
                if response.status != 200:
                    raise AccessUnavailable(f"library answered HTTP {response.status}")
                body: object = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise AccessUnavailable(f"library unreachable: {type(exc).__name__}") from None
        return body


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
