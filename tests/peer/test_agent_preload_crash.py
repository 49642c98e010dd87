"""kill -9 of a real ``peerpipe agent serve`` process in the middle of a preload, on the
loopback network (``agent_network``): the restarted agent shows the preload with what is on
disk, finishes it fetching only the sealed chunks it lacked, and unlocks from the preload."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_network import PLATFORM_KEY, AgentNetwork, WallClocks, agent_network, tree, write_build
from peer_support import AgentProcess, until

from peer.updates import ChunkRequest, load_manifest, read_pointer, release_dir, sealed_requests
from peerpipe.service import free_port
from peerpipe.tokens import Role, mint_token
from signing import ReleaseManifest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

GAME = "comet-courier"
PLAYER = "alice"
MIB = 1024 * 1024


class ChunkGate:
    """Lets ``allowed`` chunk requests through the CDN node, then holds the rest until
    ``open()``: the preload stops at a known point, with the next request in flight."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.held = asyncio.Event()
        self._opened = asyncio.Event()

    async def __call__(self) -> None:
        if self.allowed > 0:
            self.allowed -= 1
            return
        self.held.set()
        await self._opened.wait()

    def open(self) -> None:
        self._opened.set()


@dataclass
class CrashScene:
    net: AgentNetwork
    clocks: WallClocks
    agent: AgentProcess

    @property
    def game_dir(self) -> Path:
        return self.net.root / "players" / PLAYER / "games" / GAME

    async def preload_state(self) -> dict[str, Any]:
        return dict(await self.agent.call("GET", f"/api/v1/preload/{GAME}/status"))

    def served(self, since: int, sizes: dict[str, int]) -> int:
        """Bytes of the sealed chunks the CDN node served from request ``since`` on."""
        paths = self.net.cdn_paths[since:]
        return sum(sizes[p.removeprefix("/chunks/")] for p in paths if p.startswith("/chunks/"))

    def chunk_requests(self, since: int) -> list[str]:
        return [path for path in self.net.cdn_paths[since:] if path.startswith("/chunks/")]


def agent_env(net: AgentNetwork) -> dict[str, str]:
    """The same agent as ``AgentNetwork.start_agent`` builds, as ``PEERPIPE_*`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERPIPE_")}
    env.update(
        {
            "PEERPIPE_DATA_DIR": str(net.root / "players" / PLAYER),
            "PEERPIPE_PLATFORM_KEY": PLATFORM_KEY,
            "PEERPIPE_AGENT_PORT": str(free_port()),
            "PEERPIPE_TRUSTED_ROOT": str(net.trusted_root),
            "PEERPIPE_USER_TOKEN": mint_token(PLATFORM_KEY, PLAYER, Role.USER),
            "PEERPIPE_CDN_URLS": net.cdn.url,
            "PEERPIPE_TRACKER_URL": net.tracker.url,
            "PEERPIPE_LIBRARY_URL": net.library.url,
        }
    )
    return env


@pytest.fixture
async def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CrashScene]:
    clocks = WallClocks(monkeypatch)
    async with agent_network(tmp_path, GAME) as net:
        first = {"bin/game": os.urandom(150_000), "data/level.pak": os.urandom(400_000)}
        await net.publish(write_build(tmp_path / "b1", first), "1.0.0")
        await net.grant(PLAYER)
        agent = AgentProcess(agent_env(net), net.root / "players" / PLAYER / "agent",
                             tmp_path / "agent.log")  # fmt: skip
        await agent.start()
        try:
            download = await agent.call("POST", "/api/v1/downloads", {"game_id": GAME})

            async def installed() -> bool:
                found = await agent.call("GET", f"/api/v1/downloads/{download['id']}")
                return bool(found["state"] == "installed")

            await until(installed, 60)
            shutil.copytree(tmp_path / "b1", tmp_path / "b2")
            # several sealed chunks (about 1 MiB each) to stop the preload between
            write_build(tmp_path / "b2", {"data/finale.pak": os.urandom(8 * MIB)})
            yield CrashScene(net, clocks, agent)
        finally:
            for hold in net.chunk_holds:
                if isinstance(hold, ChunkGate):
                    hold.open()
            await agent.stop()


def sealed_sizes(manifest: ReleaseManifest) -> dict[str, int]:
    return {
        chunk.sealed.sha256: chunk.sealed.size
        for entry in manifest.files
        for chunk in entry.chunks
        if chunk.sealed is not None
    }


def on_disk(preload: Path, requests: list[ChunkRequest]) -> list[ChunkRequest]:
    return [r for r in requests if (preload / r.sha256).is_file()]


async def test_a_preload_killed_midway_resumes_after_a_restart_and_unlocks(
    scene: CrashScene,
) -> None:
    net, agent = scene.net, scene.agent
    unlock_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    locked = await net.publish(net.root / "b2", "2.0.0", unlock_at=unlock_at.isoformat())
    installed = await asyncio.to_thread(load_manifest, scene.game_dir, 1)
    requests = sealed_requests(installed, locked.manifest)
    assert len(requests) >= 3, requests
    gate = ChunkGate(allowed=len(requests) // 2)
    net.chunk_holds.append(gate)

    await agent.call("POST", f"/api/v1/preload/{GAME}")
    async with asyncio.timeout(60):
        await gate.held.wait()
    await agent.kill()

    preload_dir = scene.game_dir / ".preload-2"
    kept = on_disk(preload_dir, requests)
    assert 0 < len(kept) < len(requests)
    missing = sum(r.size for r in requests) - sum(r.size for r in kept)
    restarted_at = len(net.cdn_paths)

    await agent.start()  # the gate still holds the CDN's chunks: the preload waits

    state = await scene.preload_state()
    assert (state["state"], state["release"]) == ("preloading", 2), state
    assert (state["done"], state["total"]) == (len(kept), len(requests)), state
    update = (await agent.call("GET", f"/api/v1/updates/{GAME}"))["update"]
    assert (update["state"], update["to_release"]) == ("preloading", 2), update

    gate.open()

    async def preloaded() -> bool:
        found = await scene.preload_state()
        assert found["state"] in ("preloading", "preloaded"), found
        return bool(found["state"] == "preloaded")

    await until(preloaded, 60)
    assert len(on_disk(preload_dir, requests)) == len(requests)
    fetched_after = scene.served(restarted_at, sealed_sizes(locked.manifest))
    # every missing chunk once, none of those on disk again (the smallest is 256 KiB)
    assert missing <= fetched_after <= missing + 64 * 1024, (fetched_after, missing)

    scene.clocks.move_to(unlock_at + timedelta(seconds=1))
    before_unlock = len(net.cdn_paths)
    unlocked = await agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert (unlocked["release"], unlocked["cdn_bytes"]) == (2, 0), unlocked
    assert scene.chunk_requests(before_unlock) == []  # opened from the preload alone
    pointer = read_pointer(scene.game_dir)
    assert pointer is not None and pointer.release == 2
    assert tree(release_dir(scene.game_dir, 2)) == tree(net.root / "b2")
    report = await agent.call("POST", f"/api/v1/content/{GAME}/verify")
    assert (report["release"], report["ok"]) == (2, True), report
    assert not preload_dir.exists()
