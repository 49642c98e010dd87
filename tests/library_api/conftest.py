"""Library API fixtures: every test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from library_support import ENGINES, Library, fresh_postgres_database, library_config

from library_api import create_app
from peerpipe.service import start_app


@pytest.fixture(params=ENGINES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each engine."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'library.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def library(tmp_path: Path, database_url: str) -> AsyncIterator[Library]:
    config = library_config(tmp_path, database_url)
    running = await start_app(create_app(config))
    try:
        async with aiohttp.ClientSession() as http:
            yield Library(url=running.url, http=http, config=config)
    finally:
        await running.stop()
