"""Preload and unlock through the agent's API and commands, on the loopback network
(``agent_network``): release 2 is published locked (its new chunks sealed on a real CDN node,
its key deposited with the real library API), the agent preloads it, the library holds the
key back until the unlock time and from non-owners, and the unlock builds the release from
the preloaded chunks."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_network import AgentNetwork, WallClocks, agent_network, tree, write_build
from peer_support import until

from peer.commands import preload_command, unlock_game, update_game
from peer.updates import read_pointer, release_dir
from seeder.publish import PublishResult

pytestmark = pytest.mark.timeout(120)

GAME = "moon-courier"
PLAYER = "alice"
MARKER = b"LOCKED-EPILOGUE-"
SECRET = MARKER * 12_000  # ~190 KiB of the locked release's new content


@dataclass
class Preload:
    net: AgentNetwork
    clocks: WallClocks
    first: dict[str, bytes]

    @property
    def agent(self) -> Any:
        return self.net.agents[PLAYER]

    @property
    def game_dir(self) -> Path:
        return self.net.game_dir(PLAYER)

    async def publish_locked(self, **options: Any) -> tuple[PublishResult, datetime]:
        second = dict(self.first, **{"data/epilogue.pak": SECRET})
        shutil.copytree(self.net.root / "b1", self.net.root / "b2")
        unlock_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
        locked = await self.net.publish(
            write_build(self.net.root / "b2", second), "2.0.0",
            unlock_at=unlock_at.isoformat(), **options,
        )  # fmt: skip
        return locked, unlock_at

    async def preload_state(self) -> dict[str, Any]:
        status, body = await self.agent.call("GET", f"/api/v1/preload/{GAME}/status")
        assert status == 200, body
        return dict(body)

    async def preloaded(self) -> bool:
        state = await self.preload_state()
        assert state["state"] in ("preloading", "preloaded"), state
        return bool(state["state"] == "preloaded")


def leaks(root: Path) -> list[Path]:
    """Files under ``root`` holding any of the locked release's plaintext."""
    return [p for p in root.rglob("*") if p.is_file() and MARKER in p.read_bytes()]


def chunk_fetches(net: AgentNetwork) -> int:
    return len([path for path in net.cdn_paths if path.startswith("/chunks/")])


@pytest.fixture
async def preload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Preload]:
    clocks = WallClocks(monkeypatch)
    async with agent_network(tmp_path, GAME) as net:
        first = {"bin/game": os.urandom(150_000), "data/level.pak": os.urandom(400_000)}
        await net.publish(write_build(tmp_path / "b1", first), "1.0.0")
        await net.grant(PLAYER)
        await net.start_agent(PLAYER)
        await net.install(PLAYER)
        yield Preload(net, clocks, first)


async def test_preload_stays_sealed_until_the_key_and_unlocks_without_a_second_download(
    preload: Preload,
) -> None:
    net, agent = preload.net, preload.agent
    status, refused = await agent.call("POST", f"/api/v1/preload/{GAME}")
    assert (status, refused["code"]) == (409, "NOT_LOCKED")
    locked, unlock_at = await preload.publish_locked()

    status, started = await agent.call("POST", f"/api/v1/preload/{GAME}")
    assert status == 202, started
    assert started["release"] == 2 and started["total"] > 0

    await until(preload.preloaded, 60)
    state = await preload.preload_state()
    assert state["done"] == state["total"] and state["unlock_at"] == unlock_at.isoformat()
    install_dir = agent.config.agent.install_dir
    preloaded_chunks = list((preload.game_dir / ".preload-2").iterdir())
    assert len(preloaded_chunks) == state["total"]
    assert leaks(install_dir) == []

    status, early = await agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert (status, early["code"]) == (425, "RELEASE_LOCKED"), early
    assert early["unlock_at"] == unlock_at.isoformat()
    assert leaks(install_dir) == []

    preload.clocks.move_to(unlock_at + timedelta(seconds=1))
    revoke = f"{net.library.url}/api/v1/library/internal/ownership/{PLAYER}/{GAME}"
    assert (await net.service_call("DELETE", revoke))[0] == 204
    status, stranger = await agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert (status, stranger["code"]) == (403, "NOT_OWNER"), stranger
    assert leaks(install_dir) == []

    await net.grant(PLAYER)
    fetched = chunk_fetches(net)
    assert fetched >= len(preloaded_chunks)
    status, unlocked = await agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert status == 200, unlocked
    assert unlocked["release"] == 2 and unlocked["opened_bytes"] >= len(SECRET)
    assert chunk_fetches(net) == fetched  # built from the preload alone

    pointer = read_pointer(preload.game_dir)
    assert pointer is not None and pointer.release == 2
    assert tree(release_dir(preload.game_dir, 2)) == tree(net.root / "b2")
    assert not (preload.game_dir / ".preload-2").exists()
    _, update = await agent.call("GET", f"/api/v1/updates/{GAME}")
    assert update["launchable"] is True and update["release"] == 2, update
    _, listed = await agent.call("GET", "/api/v1/downloads")
    assert [(item["release"], item["state"]) for item in listed["items"]] == [(2, "installed")]
    _, report = await agent.call("POST", f"/api/v1/content/{GAME}/verify")
    assert (report["release"], report["ok"]) == (2, True), report
    assert locked.manifest.release == 2


async def test_a_finished_preload_outlasts_a_restart_and_unlocks_from_disk(
    preload: Preload,
) -> None:
    net = preload.net
    _, unlock_at = await preload.publish_locked()
    assert (await preload.agent.call("POST", f"/api/v1/preload/{GAME}"))[0] == 202
    await until(preload.preloaded, 60)
    before = await preload.preload_state()

    await net.restart_agent(PLAYER)

    assert await preload.preload_state() == before  # preloaded, release 2, all chunks
    update = (await net.update_state(PLAYER))["update"]
    assert (update["state"], update["to_release"]) == ("preloaded", 2), update
    preload.clocks.move_to(unlock_at + timedelta(seconds=1))
    fetched = chunk_fetches(net)
    status, unlocked = await preload.agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert status == 200, unlocked
    assert (unlocked["opened_bytes"] >= len(SECRET), unlocked["cdn_bytes"]) == (True, 0)
    assert chunk_fetches(net) == fetched  # the restarted agent opened what was on disk
    assert tree(release_dir(preload.game_dir, 2)) == tree(net.root / "b2")
    assert not (preload.game_dir / ".preload-2").exists()

    await net.restart_agent(PLAYER)  # an unlocked preload is not shown again
    assert (await preload.preload_state())["state"] == "none"
    assert (await net.update_state(PLAYER))["release"] == 2


async def test_a_preload_overtaken_by_a_newer_release_is_dropped(preload: Preload) -> None:
    net = preload.net
    await preload.publish_locked()
    assert (await preload.agent.call("POST", f"/api/v1/preload/{GAME}"))[0] == 202
    await until(preload.preloaded, 60)
    shutil.copytree(net.root / "b2", net.root / "b3")
    await net.publish(write_build(net.root / "b3", {"data/patch.pak": b"hotfix"}), "2.0.1")

    state = await net.download_update(PLAYER)  # release 3 is not locked: an update

    assert (state["update"]["state"], state["release"]) == ("updated", 3), state
    assert (await preload.preload_state())["state"] == "none"
    assert not (preload.game_dir / ".preload-2").exists()
    await net.restart_agent(PLAYER)
    assert (await preload.preload_state())["state"] == "none"


async def test_an_update_to_a_locked_release_is_a_preload(preload: Preload) -> None:
    agent = preload.agent
    _, unlock_at = await preload.publish_locked(critical=True, changelog="The epilogue.")

    status, check = await agent.call("POST", f"/api/v1/updates/{GAME}/check")
    assert status == 200, check
    assert (check["update_available"], check["locked"], check["critical"]) == (True, True, True)
    assert (check["must_update"], check["unlock_at"]) == (False, unlock_at.isoformat())
    state = await preload.net.update_state(PLAYER)
    assert state["launchable"] is True  # a release nobody can install blocks nothing yet

    status, run = await agent.call("POST", f"/api/v1/updates/{GAME}/download")
    assert (status, run["state"], run["to_release"]) == (202, "preloading", 2), run
    await until(preload.preloaded, 60)
    pointer = read_pointer(preload.game_dir)
    assert pointer is not None and pointer.release == 1
    assert leaks(agent.config.agent.install_dir) == []
    status, again = await agent.call("POST", f"/api/v1/updates/{GAME}/download")
    assert (status, again["state"]) == (202, "preloaded"), again  # nothing is fetched twice

    preload.clocks.move_to(unlock_at + timedelta(seconds=1))
    status, check = await agent.call("POST", f"/api/v1/updates/{GAME}/check")
    assert (check["locked"], check["must_update"]) == (False, True), check
    fetched = chunk_fetches(preload.net)

    state = await preload.net.download_update(PLAYER)

    assert state["update"]["state"] == "updated", state["update"]
    assert (state["release"], state["launchable"]) == (2, True)
    assert chunk_fetches(preload.net) == fetched  # the preloaded chunks, opened
    assert tree(release_dir(preload.game_dir, 2)) == tree(preload.net.root / "b2")


async def test_preload_and_unlock_commands(
    preload: Preload, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = preload.agent.config, preload.agent.running.url

    async def run(handler: Any, **args: Any) -> int:
        namespace = argparse.Namespace(agent_url=url, no_wait=False, **args)
        return int(await asyncio.to_thread(handler, namespace, config))

    assert await run(preload_command, words=["status", GAME]) == 0
    assert f"{GAME}: no preload" in capsys.readouterr().out
    assert await run(preload_command, words=[GAME]) == 2
    assert "is not a preload" in capsys.readouterr().err
    _, unlock_at = await preload.publish_locked()

    assert await run(update_game, game=GAME) == 0
    printed = capsys.readouterr().out
    assert f"release 2 is locked until {unlock_at.isoformat()}: preloading it instead" in printed
    assert f"preloaded {GAME} release 2" in printed
    assert await run(preload_command, words=[GAME]) == 0
    assert f"preloaded {GAME} release 2" in capsys.readouterr().out
    assert await run(preload_command, words=["status", GAME]) == 0
    assert f"{GAME}: preloaded release 2" in capsys.readouterr().out
    assert await run(unlock_game, game=GAME) == 2
    assert "425" in capsys.readouterr().err

    preload.clocks.move_to(unlock_at + timedelta(seconds=1))
    assert await run(unlock_game, game=GAME) == 0
    assert f"unlocked {GAME} release 2" in capsys.readouterr().out
    current = release_dir(preload.game_dir, 2) / "data/epilogue.pak"
    assert hashlib.sha256(current.read_bytes()).digest() == hashlib.sha256(SECRET).digest()
    assert await run(preload_command, words=["status", GAME, "now"]) == 2
    assert "usage" in capsys.readouterr().err


async def test_players_who_unlocked_seed_the_release_to_the_others(preload: Preload) -> None:
    net = preload.net
    await net.grant("bob")
    await net.start_agent("bob")
    await net.install("bob")
    locked, unlock_at = await preload.publish_locked()
    assert (await preload.agent.call("POST", f"/api/v1/preload/{GAME}"))[0] == 202
    await until(preload.preloaded, 60)
    preload.clocks.move_to(unlock_at + timedelta(seconds=1))
    status, unlocked = await preload.agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert (status, unlocked["peer_bytes"]) == (200, 0), unlocked  # alice had it all

    _, health = await preload.agent.call("GET", "/health")

    async def alice_seeds() -> bool:
        peers = await net.swarm_peers(locked.manifest.torrent.info_hash_v1)
        return any(peer["port"] == health["bt_port"] and peer["seeder"] for peer in peers)

    await until(alice_seeds, 60)

    state = await net.download_update("bob")  # bob never preloaded

    run = state["update"]
    assert (run["state"], state["release"]) == ("updated", 2), run
    assert run["peer_bytes"] > 0, run  # plaintext pieces from alice, not sealed CDN copies
    assert tree(release_dir(net.game_dir("bob"), 2)) == tree(net.root / "b2")
