"""Delta updates through the agent's API on a loopback network (``agent_network``): the
publish pipeline signs and registers releases, a real CDN node serves their trust metadata,
files and chunks, the agent installs release 1 over BitTorrent (CDN web seed), then checks,
downloads and rolls back updates."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_network import AgentNetwork, agent_network, tree
from peer_support import until

from peer.commands import rollback_game, update_game
from peer.trust import TrustedReleases
from peer.updates import FirstAvailable, HttpChunkSource, UpdateApplier, read_pointer

pytestmark = pytest.mark.timeout(120)

GAME = "star-hauler"
SAVE = "saves/slot1.sav"
PLAYER = "alice"


class Network:
    """One player on the shared loopback network (the API the tests below were written for)."""

    def __init__(self, net: AgentNetwork) -> None:
        self.net = net
        self.root = net.root

    @property
    def agent(self) -> Any:
        return self.net.agents[PLAYER]

    @property
    def game_dir(self) -> Path:
        return self.net.game_dir(PLAYER)

    async def publish(self, build: Path, version: str, **notes: Any) -> None:
        await self.net.publish(build, version, **notes)

    async def update_state(self) -> dict[str, Any]:
        return await self.net.update_state(PLAYER)


def first_build(root: Path) -> Path:
    files = {"bin/game": 200 * 1024 + 7, "data/level.pak": 600 * 1024, "readme.txt": 900}
    for name, size in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(os.urandom(size))
    return root


def patched_build(previous: Path, root: Path) -> Path:
    """An edit inside a large file, a new file and a removed one."""
    shutil.copytree(previous, root)
    pack = bytearray((root / "data/level.pak").read_bytes())
    pack[300_000:300_016] = b"patched-reactor!"
    (root / "data/level.pak").write_bytes(bytes(pack))
    (root / "data/extra.pak").write_bytes(os.urandom(50 * 1024))
    (root / "readme.txt").unlink()
    return root


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[Network]:
    async with agent_network(tmp_path, GAME) as net:
        await net.publish(first_build(tmp_path / "build-1"), "1.0.0")
        await net.grant(PLAYER)
        await net.start_agent(PLAYER)
        yield Network(net)


async def install_first_release(network: Network) -> None:
    await network.net.install(PLAYER)


async def download_update(network: Network) -> dict[str, Any]:
    return await network.net.download_update(PLAYER)


async def test_update_moves_only_the_changes_and_rolls_back(network: Network) -> None:
    await install_first_release(network)
    save = network.game_dir / "1" / SAVE
    save.parent.mkdir(parents=True)
    save.write_bytes(b"level 7, 3 lives")
    status, listed = await network.agent.call("GET", "/api/v1/updates")
    assert status == 200
    assert [(i["game_id"], i["release"], i["launchable"]) for i in listed["items"]] == [
        (GAME, 1, True)
    ]
    status, body = await network.agent.call("POST", f"/api/v1/updates/{GAME}/rollback")
    assert (status, body["code"]) == (409, "ROLLBACK_UNAVAILABLE")

    build_2 = patched_build(network.root / "build-1", network.root / "build-2")
    await network.publish(build_2, "2.0.0", changelog="Fixed the reactor leak.")
    status, check = await network.agent.call("POST", f"/api/v1/updates/{GAME}/check")
    assert status == 200, check
    assert check["update_available"] and not check["must_update"]
    assert (check["installed_release"], check["latest_release"]) == (1, 2)
    status, notes = await network.agent.call("GET", f"/api/v1/updates/{GAME}/changelog")
    assert (status, notes["changelog"], notes["release"]) == (200, "Fixed the reactor leak.", 2)

    state = await download_update(network)

    run = state["update"]
    assert run["state"] == "updated", run
    # only what the check planned: the new file and the edited part (at most 256 KiB) of the pack
    assert run["fetched_bytes"] == check["plan"]["fetch_bytes"] <= (50 + 256) * 1024
    assert (check["plan"]["added"], check["plan"]["removed"]) == (
        ["data/extra.pak"],
        ["readme.txt"],
    )
    assert (state["release"], state["previous_release"], state["update_available"]) == (2, 1, False)
    pointer = read_pointer(network.game_dir)
    assert pointer is not None and (pointer.release, pointer.previous) == (2, 1)
    assert tree(network.game_dir / "2", skip="saves/") == tree(build_2)
    assert (network.game_dir / "2" / SAVE).read_bytes() == b"level 7, 3 lives"

    status, body = await network.agent.call("POST", f"/api/v1/updates/{GAME}/rollback")
    assert (status, body["release"], body["previous"]) == (200, 1, 2), body
    assert tree(network.game_dir / "1", skip="saves/") == tree(network.root / "build-1")
    assert save.read_bytes() == b"level 7, 3 lives"
    state = await network.update_state()
    assert (state["release"], state["update_available"]) == (1, True)


async def test_critical_release_blocks_launch_until_updated(network: Network) -> None:
    await install_first_release(network)
    build_2 = patched_build(network.root / "build-1", network.root / "build-2")
    await network.publish(build_2, "2.0.0", critical=True, changelog="Security fix.")

    status, check = await network.agent.call("POST", f"/api/v1/updates/{GAME}/check")
    assert status == 200, check
    assert (check["critical"], check["must_update"]) == (True, True)
    state = await network.update_state()
    assert (state["must_update"], state["launchable"]) == (True, False)
    _, listed = await network.agent.call("GET", "/api/v1/updates")
    assert [item["launchable"] for item in listed["items"]] == [False]
    await restart_agent(network)  # the agent checks again at start: still not launchable

    async def checked() -> bool:
        return (await network.update_state())["last_check"] is not None

    await until(checked, 30)
    assert (await network.update_state())["launchable"] is False

    state = await download_update(network)

    assert state["update"]["state"] == "updated", state["update"]
    assert (state["release"], state["must_update"], state["launchable"]) == (2, False, True)
    assert tree(network.game_dir / "2") == tree(build_2)


async def test_update_refusals_are_problems(network: Network) -> None:
    status, body = await network.agent.call("POST", "/api/v1/updates/not-installed/check")
    assert (status, body["code"]) == (404, "GAME_NOT_INSTALLED")
    status, body = await network.agent.call("GET", "/api/v1/updates/not-installed")
    assert (status, body["code"]) == (404, "GAME_NOT_INSTALLED")


async def test_update_and_rollback_commands(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    await install_first_release(network)
    build_2 = patched_build(network.root / "build-1", network.root / "build-2")
    await network.publish(build_2, "2.0.0", changelog="New cargo bay.")
    config, url = network.agent.config, network.agent.running.url

    async def run(handler: Any) -> int:
        args = argparse.Namespace(game=GAME, agent_url=url)
        return int(await asyncio.to_thread(handler, args, config))

    assert await run(update_game) == 0
    printed = capsys.readouterr().out
    assert "release 1 -> 2" in printed and "New cargo bay." in printed
    assert f"updated {GAME} to release 2" in printed
    assert tree(network.game_dir / "2") == tree(build_2)
    assert await run(update_game) == 0
    assert f"{GAME} is up to date (release 2)" in capsys.readouterr().out
    assert await run(rollback_game) == 0
    assert f"{GAME} rolled back to release 1" in capsys.readouterr().out


class Killed(Exception):
    """Stands in for the agent dying at a checkpoint of an update."""


def die_at(step: str) -> Any:
    def checkpoint(reached: str) -> None:
        if reached == step:
            raise Killed(step)

    return checkpoint


async def restart_agent(network: Network) -> None:
    await network.net.restart_agent(PLAYER)


@pytest.mark.parametrize(("step", "release"), [("journal-switching", 2), ("staging-verified", 1)])
async def test_agent_start_finishes_or_keeps_back_an_interrupted_update(
    network: Network, step: str, release: int
) -> None:
    await install_first_release(network)
    build_2 = patched_build(network.root / "build-1", network.root / "build-2")
    await network.publish(build_2, "2.0.0")
    agent = network.agent.config.agent
    manifest, _ = await TrustedReleases(agent).latest(GAME)
    async with aiohttp.ClientSession() as http:
        chunks = FirstAvailable([HttpChunkSource(http, agent.cdn_urls)])
        with pytest.raises(Killed):
            await UpdateApplier(chunks, checkpoint=die_at(step)).apply(network.game_dir, manifest)

    await restart_agent(network)

    state = await network.update_state()
    assert state["release"] == release
    build = build_2 if release == 2 else network.root / "build-1"
    assert tree(network.game_dir / str(release)) == tree(build)
    if release == 1:  # the verified staged files wait for the next download to resume them
        assert state["pending_release"] == 2
        state = await download_update(network)
        assert (state["update"]["state"], state["release"]) == ("updated", 2)
        assert state["update"]["fetched_bytes"] == 0


async def test_an_update_keeps_to_the_download_limit(network: Network) -> None:
    """Chunks fetched straight from the CDN count against the player's limit, like torrent
    bytes: 3 MiB of new content at 300 kB/s takes about ten seconds, not a blink."""
    await install_first_release(network)
    limit = 300_000
    status, _ = await network.agent.call("PUT", "/api/v1/settings", {"download_rate_limit": limit})
    assert status == 200
    build_2 = network.root / "build-2"
    shutil.copytree(network.root / "build-1", build_2)
    (build_2 / "data/expansion.pak").write_bytes(os.urandom(3 * 1024 * 1024))
    await network.publish(build_2, "2.0.0")
    began = time.monotonic()
    state = await network.net.download_update(PLAYER, seconds=60)
    seconds = time.monotonic() - began
    run = state["update"]
    assert run["state"] == "updated", run
    rate = run["fetched_bytes"] / seconds
    assert run["fetched_bytes"] >= 3 * 1024 * 1024
    # the update's own work (plan, staging, switch) adds time: the rate can only fall short
    assert 0.75 * limit <= rate <= 1.1 * limit, (rate, run)
