"""Library API fixtures: every test runs on SQLite and on the real PostgreSQL.

Migrating takes a second per database, so each engine is migrated once per session: SQLite
tests get a copy of a migrated file, PostgreSQL tests a migrated database emptied with
TRUNCATE. The migration tests themselves use ``empty_database_url``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from library_support import (
    ENGINES,
    TEST_OPTIONS,
    Library,
    create_postgres_database,
    drop_postgres_database,
    empty_tables,
    fresh_postgres_database,
    library_config,
    migrated,
)

from library_api import create_app
from library_api.options import LibraryOptions
from peerpipe.service import start_app


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("library-template") / "library.db"
    asyncio.run(migrated(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database for the session (dropped at the end)."""
    url = asyncio.run(create_postgres_database())
    try:
        asyncio.run(migrated(url))
        yield url
    finally:
        asyncio.run(drop_postgres_database(url))


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database holding no rows, on each engine."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "library.db")
        return f"sqlite+aiosqlite:///{tmp_path / 'library.db'}"
    url: str = request.getfixturevalue("postgres_template")
    asyncio.run(empty_tables(url))
    return url


@pytest.fixture(params=ENGINES)
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database without any schema, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def library_options() -> LibraryOptions:
    return TEST_OPTIONS


@pytest.fixture
async def library(
    tmp_path: Path, database_url: str, library_options: LibraryOptions
) -> AsyncIterator[Library]:
    config = library_config(tmp_path, database_url)
    running = await start_app(create_app(config, library_options))
    try:
        async with aiohttp.ClientSession() as http:
            yield Library(url=running.url, http=http, config=config)
    finally:
        await running.stop()
