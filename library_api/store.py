"""The library's storage: an engine, its migrations, one transaction per unit of work, and the
quick queries (``quick_queries``) for the calls clients make most."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from library_api.database import create_engine, migrate, safe_url
from library_api.errors import StoreUnavailable
from library_api.quick_queries import QuickQueries, SqlAlchemyQuickQueries
from library_api.repositories import (
    CatalogRepository,
    OwnershipRepository,
    PasskeyRepository,
    UserRepository,
)
from peerpipe.logs import fields

log = logging.getLogger("library_api.store")


@dataclass(frozen=True)
class Repositories:
    """Every repository, sharing one session (so one transaction)."""

    session: AsyncSession
    users: UserRepository
    passkeys: PasskeyRepository
    catalog: CatalogRepository
    ownership: OwnershipRepository

    @classmethod
    def over(cls, session: AsyncSession) -> Repositories:
        return cls(
            session=session,
            users=UserRepository(session),
            passkeys=PasskeyRepository(session),
            catalog=CatalogRepository(session),
            ownership=OwnershipRepository(session),
        )


class LibraryStore:
    """Opens (and migrates) the database at start-up; hands out transactions, and the quick
    queries for the calls clients make most."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._quick: QuickQueries | None = None

    async def open(self) -> None:
        engine = create_engine(self.url)
        try:
            await migrate(engine)
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            self._quick = await _quick_queries(self.url, engine, sessions)
        except BaseException:
            await engine.dispose()
            raise
        self._engine, self._sessions = engine, sessions
        log.info("library database open", extra=fields(database=safe_url(self.url)))

    async def close(self) -> None:
        if self._quick is not None:
            await self._quick.close()
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = self._sessions = self._quick = None

    @property
    def quick(self) -> QuickQueries:
        if self._quick is None:
            raise StoreUnavailable("the library database is not open")
        return self._quick

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        """Repositories in one transaction: committed on success, rolled back on error."""
        if self._sessions is None:
            raise StoreUnavailable("the library database is not open")
        async with self._sessions() as session, session.begin():
            yield Repositories.over(session)

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers a trivial query."""
        if self._engine is None:
            raise StoreUnavailable("the library database is not open")
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"library database does not answer: {exc}") from None


async def _quick_queries(
    url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> QuickQueries:
    if engine.dialect.name == "postgresql":
        # Imported here: asyncpg is only loaded where PostgreSQL is used.
        from library_api.postgres_quick_queries import AsyncpgQuickQueries

        return await AsyncpgQuickQueries.connect(url)
    return SqlAlchemyQuickQueries(engine, sessions)
