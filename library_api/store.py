"""The library's storage: an engine, its migrations, and one transaction per unit of work."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from library_api.database import create_engine, migrate, safe_url
from library_api.errors import StoreUnavailable
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
    """Opens (and migrates) the database at start-up; hands out transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._lazy_engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    async def open(self) -> None:
        engine = create_engine(self.url)
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._lazy_engine = (
            create_engine(self.url, lazy_commits=True)
            if engine.dialect.name == "postgresql"
            else engine
        )
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        log.info("library database open", extra=fields(database=safe_url(self.url)))

    async def close(self) -> None:
        if self._lazy_engine is not None and self._lazy_engine is not self._engine:
            await self._lazy_engine.dispose()
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = self._lazy_engine = None
        self._sessions = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        """Repositories in one transaction: committed on success, rolled back on error."""
        if self._sessions is None:
            raise StoreUnavailable("the library database is not open")
        async with self._sessions() as session, session.begin():
            yield Repositories.over(session)

    @asynccontextmanager
    async def quick_write(self) -> AsyncIterator[AsyncConnection]:
        """A bare connection in a transaction, for hot single-statement writes whose loss in a
        crash costs little: on PostgreSQL the commit does not wait for the disk."""
        if self._lazy_engine is None:
            raise StoreUnavailable("the library database is not open")
        async with self._lazy_engine.begin() as connection:
            yield connection

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers a trivial query."""
        if self._engine is None:
            raise StoreUnavailable("the library database is not open")
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"library database does not answer: {exc}") from None
