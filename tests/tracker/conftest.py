"""Loopback fixtures: the real tracker app and a small library API standing in at the edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from tracker_loopback import (
    NOT_OWNER,
    OTHER_OWNER,
    OWNER,
    REDIS_URL,
    Library,
    StartTracker,
    delete_prefix,
    redis_or_skip,
    tracker_config,
    unique_prefix,
)

import tracker as tracker_package
from tracker import RunningTracker, TrackerOptions, create_app


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``memory`` unless a test module parametrizes it (indirect) over ``redis`` too."""
    return str(getattr(request, "param", "memory"))


@pytest.fixture
async def library() -> AsyncIterator[Library]:
    lib = Library(owners={OWNER: {"game-1"}, OTHER_OWNER: {"game-1"}, NOT_OWNER: {"game-2"}})
    await lib.start()
    yield lib
    await lib.stop()


@pytest.fixture
def redis_prefix() -> str:
    return unique_prefix()


@pytest.fixture
async def start_tracker(
    library: Library, backend: str, redis_prefix: str
) -> AsyncIterator[StartTracker]:
    started: list[RunningTracker] = []
    if backend == "redis":
        await (await redis_or_skip()).aclose()

    async def start(
        options: TrackerOptions | None = None, host: str = "127.0.0.1", **tracker: object
    ) -> RunningTracker:
        if backend == "redis":
            tracker.setdefault("redis_url", REDIS_URL)
        options = replace(options or TrackerOptions(), redis_prefix=redis_prefix)
        app = create_app(tracker_config(library.url, **tracker), options)
        running = await tracker_package.start_tracker(app, host)
        started.append(running)
        return running

    yield start
    for running in started:
        # a stop that hangs fails here within seconds, not at pytest's 5-minute timeout
        async with asyncio.timeout(30):
            await running.stop()
    if backend == "redis":
        client = await redis_or_skip()
        await delete_prefix(client, redis_prefix)
        await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A hung tracker fails the test within seconds instead of aiohttp's default 5 minutes.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
