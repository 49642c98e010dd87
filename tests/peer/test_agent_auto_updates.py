"""Automatic updates through the agent's API: settings persist in the agent's SQLite store,
and the scheduled run starts updates only when switched on and inside the window; a release
still locked is preloaded by the scheduled run, not installed."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from agent_network import AgentNetwork, WallClocks, agent_network, write_build
from peer_support import until

from peer.updates import read_pointer

pytestmark = pytest.mark.timeout(120)
GAME = "moon-courier"
PLAYER = "alice"
SETTINGS = "/api/v1/auto-updates/settings"
SCHEDULE = "/api/v1/auto-updates/schedule"
ALL_DAY = {"enabled": True, "window_start": "00:00", "window_end": "00:00"}


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[AgentNetwork]:
    async with agent_network(tmp_path, GAME) as net:
        first = {"bin/game": os.urandom(120_000), "data/level.pak": os.urandom(300_000)}
        await net.publish(write_build(tmp_path / "b1", first), "1.0.0")
        await net.grant(PLAYER)
        await net.start_agent(PLAYER)
        yield net


async def next_build(network: AgentNetwork) -> Path:
    shutil.copytree(network.root / "b1", network.root / "b2")
    return write_build(network.root / "b2", {"data/new.pak": os.urandom(40_000)})


async def test_settings_validate_and_persist(network: AgentNetwork) -> None:
    agent = network.agents[PLAYER]
    status, body = await agent.call("GET", SETTINGS)
    assert (status, body) == (200, {"enabled": False, "window_start": "00:00",
                                    "window_end": "00:00"})  # fmt: skip
    wanted = {"enabled": True, "window_start": "22:30", "window_end": "06:00"}
    status, body = await agent.call("PUT", SETTINGS, wanted)
    assert (status, body) == (200, wanted)
    status, bad = await agent.call("PUT", SETTINGS, {"window_end": "25:00"})
    assert status == 422 and "window_end" in bad["detail"], bad
    stored = await agent.engine.store.setting("auto_updates")
    assert stored is not None and '"22:30"' in stored
    assert (await agent.call("GET", SETTINGS))[1] == wanted


async def test_schedule_starts_updates_only_when_allowed(network: AgentNetwork) -> None:
    agent = network.agents[PLAYER]
    await network.install(PLAYER)
    await network.publish(await next_build(network), "2.0.0")

    status, off = await agent.call("POST", SCHEDULE)
    assert status == 200 and off["allowed"] is False and off["started"] == [], off
    assert off["checked"][0]["game_id"] == GAME

    assert (await agent.call("PUT", SETTINGS, ALL_DAY))[0] == 200
    status, on = await agent.call("POST", SCHEDULE)
    assert status == 200 and [s["game_id"] for s in on["started"]] == [GAME], on

    async def updated() -> bool:
        pointer = read_pointer(network.game_dir(PLAYER))
        return pointer is not None and pointer.release == 2

    await until(updated, 60)


async def test_schedule_preloads_a_locked_release(
    network: AgentNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    clocks = WallClocks(monkeypatch)
    agent = network.agents[PLAYER]
    await network.install(PLAYER)
    unlock_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    await network.publish(await next_build(network), "2.0.0", unlock_at=unlock_at.isoformat())
    assert (await agent.call("PUT", SETTINGS, ALL_DAY))[0] == 200

    status, run = await agent.call("POST", SCHEDULE)

    assert status == 200, run
    assert [(s["game_id"], s["state"]) for s in run["started"]] == [(GAME, "preloading")], run

    async def preloaded() -> bool:
        _, state = await agent.call("GET", f"/api/v1/preload/{GAME}/status")
        return bool(state["state"] == "preloaded")

    await until(preloaded, 60)
    _, again = await agent.call("POST", SCHEDULE)
    assert again["started"] == [], again  # preloaded once; release 1 still runs
    pointer = read_pointer(network.game_dir(PLAYER))
    assert pointer is not None and pointer.release == 1

    clocks.move_to(unlock_at + timedelta(minutes=1))
    _, unlocked = await agent.call("POST", SCHEDULE)
    assert [(s["game_id"], s["state"]) for s in unlocked["started"]] == [(GAME, "running")]

    async def updated() -> bool:
        pointer = read_pointer(network.game_dir(PLAYER))
        return pointer is not None and pointer.release == 2

    await until(updated, 60)
