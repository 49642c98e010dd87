"""Updates through the swarm, and the install record following the release a game runs.

Two players on the loopback network (real library, tracker and CDN node): alice updates to
release 2 first (nobody has it: the CDN serves), then seeds it; bob's update then takes
missing pieces from alice. After an update and after a rollback the agent's download record,
content manifest, verify and the torrent it seeds name the release the game now runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_network import AgentNetwork, agent_network, tree, write_build
from peer_support import until

from peer.updates import HttpChunkSource, UpdateApplier
from peerpipe.config import Config

pytestmark = pytest.mark.timeout(180)

GAME = "rail-baron"
KIB, MIB = 1024, 1024 * 1024


def first_release(root: Path) -> Path:
    return write_build(
        root,
        {
            "bin/game": os.urandom(300 * KIB + 11),
            "data/world.pak": os.urandom(3 * MIB),
            "data/music.pak": os.urandom(MIB + 5),
        },
    )


def second_release(previous: Path, root: Path) -> Path:
    """New bytes in the middle of a large pack file and a new pack: several pieces each."""
    shutil.copytree(previous, root)
    world = bytearray((root / "data/world.pak").read_bytes())
    world[MIB : MIB + 700 * KIB] = os.urandom(700 * KIB)
    (root / "data/world.pak").write_bytes(bytes(world))
    (root / "data/dlc.pak").write_bytes(os.urandom(MIB))
    return root


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[AgentNetwork]:
    async with agent_network(tmp_path, GAME) as net:
        await net.publish(first_release(tmp_path / "build-1"), "1.0.0")
        yield net


async def seeding(net: AgentNetwork, user: str, info_hash_v1: str) -> bool:
    """The tracker lists ``user``'s agent as a seeder of that release's swarm."""
    _, health = await net.agents[user].call("GET", "/health")
    return any(
        peer["port"] == health["bt_port"] and peer["seeder"]
        for peer in await net.swarm_peers(info_hash_v1)
    )


async def in_swarm(net: AgentNetwork, user: str, info_hash_v1: str) -> bool:
    _, health = await net.agents[user].call("GET", "/health")
    return any(peer["port"] == health["bt_port"] for peer in await net.swarm_peers(info_hash_v1))


async def record_of(net: AgentNetwork, user: str) -> dict[str, Any]:
    status, listed = await net.agents[user].call("GET", "/api/v1/downloads")
    assert status == 200, listed
    records = [item for item in listed["items"] if item["game_id"] == GAME]
    assert len(records) == 1, records
    return dict(records[0])


async def content(net: AgentNetwork, user: str) -> tuple[int, dict[str, Any]]:
    agent = net.agents[user]
    status, manifest = await agent.call("GET", f"/api/v1/content/{GAME}/manifest")
    assert status == 200, manifest
    status, report = await agent.call("POST", f"/api/v1/content/{GAME}/verify")
    assert status == 200, report
    return int(manifest["release"]), dict(report)


async def test_second_player_takes_the_update_from_the_first(network: AgentNetwork) -> None:
    for user in ("alice", "bob"):
        await network.grant(user)
        await network.start_agent(user)
        await network.install(user)
    build_2 = second_release(network.root / "build-1", network.root / "build-2")
    release_2 = (await network.publish(build_2, "2.0.0")).manifest
    hashes = release_2.torrent.info_hash_v1

    first = await network.download_update("alice")

    run = first["update"]
    assert run["state"] == "updated", run
    assert run["peer_bytes"] == 0 and run["cdn_bytes"] == run["fetched_bytes"] > 0, run
    await until(lambda: seeding(network, "alice", hashes), 60)

    second = await network.download_update("bob")

    run = second["update"]
    assert run["state"] == "updated", run
    assert run["peer_bytes"] > 0, run  # pieces alice sent
    assert run["transferred_bytes"] == run["peer_bytes"] + run["cdn_bytes"]
    assert tree(network.game_dir("bob") / "2") == tree(build_2)
    release, report = await content(network, "bob")
    assert (release, report["ok"], report["files_checked"]) == (2, True, 4), report
    assert not list(network.game_dir("bob").glob(".swarm-*"))  # the scratch pieces are gone


async def test_install_record_and_seeding_follow_update_and_rollback(
    network: AgentNetwork,
) -> None:
    await network.grant("alice")
    await network.start_agent("alice")
    installed = await network.install("alice")
    release_1 = (await network.publish(network.root / "build-1", "1.0.0")).manifest
    build_2 = second_release(network.root / "build-1", network.root / "build-2")
    release_2 = (await network.publish(build_2, "2.0.0")).manifest
    old, new = release_1.torrent.info_hash_v1, release_2.torrent.info_hash_v1
    await until(lambda: seeding(network, "alice", old), 30)

    assert (await network.download_update("alice"))["update"]["state"] == "updated"

    record = await record_of(network, "alice")
    assert (record["id"], record["release"], record["state"]) == (installed["id"], 2, "installed")
    assert record["total_bytes"] == release_2.total_size and record["verified"]
    release, report = await content(network, "alice")
    assert (release, report["ok"], report["files_checked"]) == (2, True, 4), report
    await until(lambda: seeding(network, "alice", new), 60)
    await until(lambda: _not(in_swarm(network, "alice", old)), 30)
    damaged = network.game_dir("alice") / "2" / "data/dlc.pak"
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    status, repair = await network.agents["alice"].call("POST", f"/api/v1/content/{GAME}/repair")
    assert (status, repair["release"]) == (202, 2), repair
    await network.agents["alice"].engine.wait(repair["id"])
    release, report = await content(network, "alice")
    assert (release, report["ok"]) == (2, True), report

    restarted = await network.restart_agent("alice")  # the record and the seeding persist
    assert (await record_of(network, "alice"))["release"] == 2
    await until(lambda: seeding(network, "alice", new), 60)  # from the saved resume data

    status, body = await restarted.call("POST", f"/api/v1/updates/{GAME}/rollback")
    assert (status, body["release"]) == (200, 1), body

    record = await record_of(network, "alice")
    assert (record["release"], record["total_bytes"]) == (1, release_1.total_size)
    release, report = await content(network, "alice")
    assert (release, report["ok"], report["files_checked"]) == (1, True, 3), report
    await until(lambda: seeding(network, "alice", old), 60)
    await until(lambda: _not(in_swarm(network, "alice", new)), 30)


async def _not(condition: Any) -> bool:
    return not await condition


async def test_a_switch_the_record_missed_is_followed_when_the_agent_starts(
    network: AgentNetwork,
) -> None:
    await network.grant("alice")
    await network.start_agent("alice")
    await network.install("alice")
    build_2 = second_release(network.root / "build-1", network.root / "build-2")
    release_2 = (await network.publish(build_2, "2.0.0")).manifest

    async def update_behind_its_back(config: Config) -> None:
        # the agent died right after the switch, before its record followed
        async with aiohttp.ClientSession() as http:
            chunks = HttpChunkSource(http, config.agent.cdn_urls)
            await UpdateApplier(chunks).apply(config.agent.install_dir / GAME, release_2)

    await network.restart_agent("alice", update_behind_its_back)

    assert (await record_of(network, "alice"))["release"] == 2
    release, report = await content(network, "alice")
    assert (release, report["ok"]) == (2, True), report
    await until(lambda: seeding(network, "alice", release_2.torrent.info_hash_v1), 60)
