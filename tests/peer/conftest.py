"""Fixtures for the agent's tests; the builders live in ``peer_support``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from peer_support import GAME, PLATFORM_KEY, BuiltRelease, LibraryStub, make_build

from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from peerpipe.tokens import Role, mint_token


@pytest.fixture
def build_release() -> Callable[[Path, dict[str, int]], BuiltRelease]:
    """Writes a build of random files and its hybrid torrent under a directory."""
    return make_build


@pytest.fixture
def built_release(tmp_path: Path) -> BuiltRelease:
    return make_build(
        tmp_path / "build", {"game.bin": 3 * 1024 * 1024 + 123, "data/levels.pak": 900_000}
    )


@pytest.fixture
async def library() -> AsyncIterator[tuple[LibraryStub, RunningApp]]:
    stub = LibraryStub(owned={GAME})
    running = await start_app(stub.app())
    yield stub, running
    await running.stop()


@pytest.fixture
def agent_config(tmp_path: Path) -> Iterator[Config]:
    base = Config().with_data_dir(tmp_path / "player")
    yield replace(
        base,
        agent=replace(
            base.agent,
            user_token=mint_token(PLATFORM_KEY, "alice", Role.USER),
            cdn_urls=(),
        ),
    )
