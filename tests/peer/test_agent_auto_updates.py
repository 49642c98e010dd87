"""Automatic updates through the agent's API: settings persist in the agent's SQLite store,
and the scheduled run starts updates only when switched on and inside the window."""

from __future__ import annotations

import os
import shutil

import pytest
from peer_support import until
from test_agent_preload import GAME, Network, build, install, network, publish

from peer.updates import read_pointer

__all__ = ["network"]  # the fixture, shared with the preload tests

pytestmark = pytest.mark.timeout(120)
SETTINGS = "/api/v1/auto-updates/settings"


async def test_settings_validate_and_persist(network: Network) -> None:
    status, body = await network.agent.call("GET", SETTINGS)
    assert (status, body) == (200, {"enabled": False, "window_start": "00:00",
                                    "window_end": "00:00"})  # fmt: skip
    wanted = {"enabled": True, "window_start": "22:30", "window_end": "06:00"}
    status, body = await network.agent.call("PUT", SETTINGS, wanted)
    assert (status, body) == (200, wanted)
    status, bad = await network.agent.call("PUT", SETTINGS, {"window_end": "25:00"})
    assert status == 422 and "window_end" in bad["detail"], bad
    stored = await network.agent.engine.store.setting("auto_updates")
    assert stored is not None and '"22:30"' in stored
    assert (await network.agent.call("GET", SETTINGS))[1] == wanted


async def test_schedule_starts_updates_only_when_allowed(network: Network) -> None:
    first = {"bin/game": os.urandom(120_000), "data/level.pak": os.urandom(300_000)}
    publish(network, build(network.root / "b1", first), "1.0.0")
    await install(network)
    shutil.copytree(network.root / "b1", network.root / "b2")
    publish(network, build(network.root / "b2", {"data/new.pak": os.urandom(40_000)}), "2.0.0")

    status, off = await network.agent.call("POST", "/api/v1/auto-updates/schedule")
    assert status == 200 and off["allowed"] is False and off["started"] == [], off
    assert off["checked"][0]["game_id"] == GAME

    all_day = {"enabled": True, "window_start": "00:00", "window_end": "00:00"}
    assert (await network.agent.call("PUT", SETTINGS, all_day))[0] == 200
    status, on = await network.agent.call("POST", "/api/v1/auto-updates/schedule")
    assert status == 200 and [s["game_id"] for s in on["started"]] == [GAME], on

    async def updated() -> bool:
        pointer = read_pointer(network.game_dir)
        return pointer is not None and pointer.release == 2

    await until(updated, 60)
