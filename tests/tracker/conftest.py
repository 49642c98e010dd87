"""Loopback fixtures: the real tracker app and a small library API standing in at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from tracker_loopback import NOT_OWNER, OTHER_OWNER, OWNER, Library, StartTracker, tracker_config

from peerpipe.service import RunningApp, start_app
from tracker import create_app


@pytest.fixture
async def library() -> AsyncIterator[Library]:
    lib = Library(owners={OWNER: {"game-1"}, OTHER_OWNER: {"game-1"}, NOT_OWNER: {"game-2"}})
    await lib.start()
    yield lib
    await lib.stop()


@pytest.fixture
async def start_tracker(library: Library) -> AsyncIterator[StartTracker]:
    started: list[RunningApp] = []

    async def start(**tracker: object) -> RunningApp:
        running = await start_app(create_app(tracker_config(library.url, **tracker)))
        started.append(running)
        return running

    yield start
    for running in started:
        await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
