"""The two calls clients make most — a playtime heartbeat and a page of their library — each
in one database round trip.

Behind one interface, one implementation per engine, picked when the store opens:
:class:`SqlAlchemyQuickQueries` on any engine (SQLite above all), and on PostgreSQL
``postgres_quick_queries.AsyncpgQuickQueries``, which runs the same statements straight on an
asyncpg pool: there the ORM session and its BEGIN/COMMIT round trips cost more than the query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from library_api.listing import LibraryQuery
from library_api.listing_repository import library_page
from library_api.playtime import PlaySession, SessionRules
from library_api.playtime_store import quick_heartbeat


class QuickQueries(Protocol):
    async def heartbeat(
        self, user_id: str, session_id: str, at: datetime, now: datetime, rules: SessionRules
    ) -> PlaySession | None:
        """Move the last heartbeat of the user's session to ``at``, committed durably.

        Only when the session is open, not silent past the AFK limit at ``now``, and its last
        heartbeat is at least the minimum interval before ``at``; ``None`` when any rule is
        broken or the session is not the user's (the caller then looks closer to say which).
        """
        ...

    async def library_page(self, user_id: str, query: LibraryQuery) -> dict[str, Any]:
        """One page of the user's games as the API answers it: ``items`` and ``next_cursor``."""
        ...

    async def close(self) -> None: ...


class SqlAlchemyQuickQueries:
    """The quick queries through SQLAlchemy, on whichever engine the store uses."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._engine = engine
        self._sessions = sessions

    async def heartbeat(
        self, user_id: str, session_id: str, at: datetime, now: datetime, rules: SessionRules
    ) -> PlaySession | None:
        async with self._engine.begin() as connection:
            return await quick_heartbeat(connection, user_id, session_id, at, now, rules)

    async def library_page(self, user_id: str, query: LibraryQuery) -> dict[str, Any]:
        async with self._sessions() as session, session.begin():
            items, cursor = await library_page(session, user_id, query)
        return {"items": [item.to_json() for item in items], "next_cursor": cursor}

    async def close(self) -> None:
        return None  # the store disposes of the engine
