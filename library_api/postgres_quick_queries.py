"""The quick queries on PostgreSQL, straight on an asyncpg pool, concurrent calls batched.

Heartbeats and library pages that arrive together share one statement and one round trip
(``batching.Batcher``): under load that divides PostgreSQL's per-statement and per-commit
work, and the driver's, among many requests, and a lone request still goes at once.

Each statement runs outside an explicit transaction, so PostgreSQL commits it on its own, as
durably as the server is configured to: with the default ``synchronous_commit=on`` every
heartbeat of a batch is on disk before any of its requests is answered. Rows become the
API's JSON directly, without ORM objects.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from library_api.batching import Batcher
from library_api.errors import StoreUnavailable
from library_api.listing import LibraryQuery
from library_api.playtime import PlaySession, SessionRules
from library_api.postgres_listing import (
    PLACE,
    ListingShape,
    N,
    PageRequest,
    listing_statement,
    page_json,
    statement_arguments,
)

# playtime_store.QUICK_HEARTBEAT for many sessions at once.
HEARTBEATS = """
UPDATE playtime_sessions s SET last_heartbeat_at = b.at
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[])
     AS b(session_id, user_id, at, latest_previous, alive_since)
WHERE s.session_id = b.session_id AND s.user_id = b.user_id AND s.ended_at IS NULL
  AND s.last_heartbeat_at <= b.latest_previous AND s.last_heartbeat_at >= b.alive_since
RETURNING s.session_id, s.user_id, s.game_id, s.device_id, s.owner_id, s.started_at,
          s.last_heartbeat_at, s.ended_at, s.end_reason
"""
# Statements running at once per process for each kind of call (the pool holds both kinds):
# few, so that under load each carries many requests.
RUNNERS = 2
LARGEST_BATCH = 64
DEADLOCK_RETRIES = 3
# The statement leaves the order of a page's rows to the database; the page is put in order.
IN_PAGE_ORDER = operator.itemgetter(PLACE)
# The server is unreachable, restarting or went away: 503 DATABASE_UNAVAILABLE, not a 500.
DATABASE_GONE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


class Beat(NamedTuple):
    """One heartbeat and the bounds its session's last heartbeat must lie in."""

    session_id: str
    user_id: str
    at: datetime
    latest_previous: datetime
    alive_since: datetime


async def _keep_session_state(connection: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool: the quick queries set no
    session state, and asyncpg's default reset would cost a round trip per call."""


class AsyncpgQuickQueries:
    """The quick queries on their own asyncpg pool (beside SQLAlchemy's for everything else)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._beats = Batcher(self._beat_batch, RUNNERS, LARGEST_BATCH)
        self._pages = Batcher(self._page_batch, RUNNERS, LARGEST_BATCH)

    @classmethod
    async def connect(cls, url: str) -> AsyncpgQuickQueries:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=2 * RUNNERS, reset=_keep_session_state
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot open a PostgreSQL pool: {exc}") from None
        return cls(pool)

    async def heartbeat(
        self, user_id: str, session_id: str, at: datetime, now: datetime, rules: SessionRules
    ) -> PlaySession | None:
        beat = Beat(
            session_id, user_id, at, at - rules.min_heartbeat_interval, now - rules.afk_limit
        )
        return await self._beats.submit(beat)

    async def library_page(self, user_id: str, query: LibraryQuery) -> dict[str, Any]:
        return await self._pages.submit(PageRequest(user_id, query))

    async def close(self) -> None:
        await self._beats.close()
        await self._pages.close()
        await self._pool.close()

    async def _beat_batch(self, beats: Sequence[Beat]) -> list[PlaySession | None]:
        answers: list[PlaySession | None] = [None] * len(beats)
        waiting = list(enumerate(beats))
        while waiting:
            # One heartbeat per session per statement: a repeat waits for the next one, so it
            # sees the first as a client sending them one after another would.
            sessions: set[str] = set()
            this_round: list[tuple[int, Beat]] = []
            next_round: list[tuple[int, Beat]] = []
            for place, beat in waiting:
                (next_round if beat.session_id in sessions else this_round).append((place, beat))
                sessions.add(beat.session_id)
            # In session order, so concurrent batches lock shared rows in the same order.
            this_round.sort(key=lambda placed: placed[1].session_id)
            rows = await self._beat_rows([beat for _, beat in this_round])
            beaten = {row["session_id"]: row for row in rows}
            for place, beat in this_round:
                row = beaten.get(beat.session_id)
                answers[place] = None if row is None else PlaySession(**row)
            waiting = next_round
        return answers

    async def _beat_rows(self, beats: Sequence[Beat]) -> list[Any]:
        arguments = [
            [beat.session_id for beat in beats],
            [beat.user_id for beat in beats],
            [beat.at for beat in beats],
            [beat.latest_previous for beat in beats],
            [beat.alive_since for beat in beats],
        ]
        for attempt in range(DEADLOCK_RETRIES):
            try:
                async with self._pool.acquire() as connection:
                    return list(await connection.fetch(HEARTBEATS, *arguments))
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_RETRIES - 1:
                    raise
            except DATABASE_GONE as exc:
                raise StoreUnavailable(f"library database does not answer: {exc}") from None
        raise AssertionError("unreachable")

    async def _page_batch(self, requests: Sequence[PageRequest]) -> list[dict[str, Any]]:
        shapes: dict[ListingShape, list[int]] = {}
        for place, request in enumerate(requests):
            shapes.setdefault(ListingShape.of(request.query), []).append(place)
        answers: list[dict[str, Any]] = [{}] * len(requests)
        try:
            async with self._pool.acquire() as connection:
                for shape, places in shapes.items():
                    await self._pages_of_shape(connection, shape, places, requests, answers)
        except DATABASE_GONE as exc:
            raise StoreUnavailable(f"library database does not answer: {exc}") from None
        return answers

    @staticmethod
    async def _pages_of_shape(
        connection: asyncpg.Connection,
        shape: ListingShape,
        places: list[int],
        requests: Sequence[PageRequest],
        answers: list[dict[str, Any]],
    ) -> None:
        """Answer the requests at ``places`` (all of ``shape``) with one statement."""
        statement, names = listing_statement(shape)
        alike = [requests[place] for place in places]
        rows = await connection.fetch(statement, *statement_arguments(alike, names))
        pages: list[list[Any]] = [[] for _ in places]
        for row in rows:
            pages[row[N] - 1].append(row)
        for place, request, page in zip(places, alike, pages, strict=True):
            page.sort(key=IN_PAGE_ORDER)
            answers[place] = page_json(request.query, page)
