"""The download manager over its API: queue, priority, pause/resume, settings, restart.

Three small games are served by one throttled CDN node (web seed only, no peers), so every
install is a CDN-only install too.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from peer_support import (
    AgentUnderTest,
    BuiltRelease,
    CdnStub,
    LibraryStub,
    agent_config,
    make_build,
    start_agent,
    until,
)

from peer import DownloadState
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app

MIB = 1024 * 1024
GAMES = ("alpha", "beta", "gamma")


@pytest.fixture
async def shop(
    tmp_path: Path, agent_config: Config
) -> AsyncIterator[tuple[dict[str, BuiltRelease], Config, CdnStub]]:
    releases = {
        game: make_build(tmp_path / game, {"game.bin": 700_000, "data/a.pak": 90_000}, game)
        for game in GAMES
    }
    releases["big"] = make_build(tmp_path / "big", {"big.bin": 3 * MIB}, "big")
    library = LibraryStub(owned=set(releases))
    library_app = await start_app(library.app())
    cdn = CdnStub(releases, bytes_per_second=2 * MIB)
    cdn_app = await start_app(cdn.app())
    config = agent_config_for(agent_config, cdn_app, library_app)
    yield releases, config, cdn
    await asyncio.gather(cdn_app.stop(), library_app.stop())


def agent_config_for(base: Config, cdn: RunningApp, library: RunningApp) -> Config:
    return agent_config(base, cdn=[cdn.url], library=library.url)


async def install(agent: AgentUnderTest, game: str) -> str:
    status, body = await agent.call("POST", "/api/v1/downloads", {"game_id": game})
    assert status == 202, body
    return str(body["id"])


async def state_of(agent: AgentUnderTest, download_id: str) -> dict[str, Any]:
    status, body = await agent.call("GET", f"/api/v1/downloads/{download_id}")
    assert status == 200
    return dict(body)


async def test_one_at_a_time_in_priority_order(
    shop: tuple[dict[str, BuiltRelease], Config, CdnStub],
) -> None:
    releases, config, cdn = shop
    agent = await start_agent(config, releases)
    try:
        status, _ = await agent.call("PUT", "/api/v1/settings", {"max_concurrent_downloads": 1})
        assert status == 200
        first, second, third = [await install(agent, game) for game in GAMES]
        status, body = await agent.call("PUT", f"/api/v1/queue/{third}/priority", {"priority": 5})
        assert status == 200 and body["priority"] == 5
        status, queue = await agent.call("GET", "/api/v1/queue")
        assert [item["id"] for item in queue["items"]] == [third, first, second]
        async with asyncio.timeout(60):
            done = [await agent.engine.wait(item) for item in (first, second, third)]
    finally:
        await agent.stop()
    a, b, c = done
    assert all(item.state is DownloadState.INSTALLED and item.verified for item in done)
    # the urgent one takes the slot at once; the one it displaced goes on before the rest
    assert a.finished_at and c.finished_at and b.started_at
    assert c.finished_at <= a.finished_at <= b.started_at
    total = sum(releases[game].total_size for game in GAMES)
    assert cdn.served < total * 1.15  # the displaced download did not start over
    for item in done:  # CDN only: nobody else has the games
        assert item.peer_bytes == 0 and item.cdn_bytes >= item.total_bytes


async def test_pause_frees_the_slot_and_resume_goes_on_from_where_it_was(
    shop: tuple[dict[str, BuiltRelease], Config, CdnStub],
) -> None:
    releases, config, cdn = shop
    agent = await start_agent(config, releases)
    try:
        await agent.call("PUT", "/api/v1/settings", {"max_concurrent_downloads": 1})
        big = await install(agent, "big")
        small = await install(agent, "alpha")

        async def big_is_half_done() -> bool:
            return bool((await state_of(agent, big))["downloaded_bytes"] > MIB)

        await until(big_is_half_done)
        status, paused = await agent.call("PUT", f"/api/v1/downloads/{big}/pause")
        assert status == 200 and paused["state"] == "paused"
        async with asyncio.timeout(30):
            assert (await agent.engine.wait(small)).state is DownloadState.INSTALLED
        assert (await state_of(agent, big))["state"] == "paused"
        status, resumed = await agent.call("PUT", f"/api/v1/downloads/{big}/resume")
        assert status == 200 and resumed["state"] in ("queued", "checking", "downloading")
        async with asyncio.timeout(30):
            finished = await agent.engine.wait(big)
    finally:
        await agent.stop()
    assert finished.state is DownloadState.INSTALLED and finished.verified
    small_size = releases["alpha"].total_size
    # the paused half was not fetched twice (web seeds may over-fetch a little at the end)
    assert cdn.served < (finished.total_bytes + small_size) * 1.15


async def test_queue_and_settings_survive_a_restart(
    shop: tuple[dict[str, BuiltRelease], Config, CdnStub],
) -> None:
    releases, config, _ = shop
    agent = await start_agent(config, releases)
    schedule = [{"start": "22:00", "end": "06:00", "download_rate_limit": 0}]
    wanted = {"max_concurrent_downloads": 1, "upload_rate_limit": 50_000, "schedule": schedule}
    try:
        status, settings = await agent.call("PUT", "/api/v1/settings", wanted)
        assert status == 200
        await agent.call("POST", "/api/v1/queue/pause-all")
        ids = [await install(agent, game) for game in GAMES]
        status, _ = await agent.call("POST", "/api/v1/queue/pause-all")
        assert status == 200
        order = [ids[2], ids[0], ids[1]]
        status, queue = await agent.call("PUT", "/api/v1/queue/reorder", {"order": order})
        assert status == 200 and [item["id"] for item in queue["items"]] == order
    finally:
        await agent.stop()
    again = await start_agent(config, releases)
    try:
        status, restored = await again.call("GET", "/api/v1/settings")
        assert restored == settings
        status, queue = await again.call("GET", "/api/v1/queue")
        assert [item["id"] for item in queue["items"]] == order
        assert {item["state"] for item in queue["items"]} == {"paused"}
        await again.call("POST", "/api/v1/queue/resume-all")
        async with asyncio.timeout(60):
            done = [await again.engine.wait(item) for item in order]
    finally:
        await again.stop()
    assert all(item.state is DownloadState.INSTALLED for item in done)
    starts = [item.started_at or "" for item in done]
    assert starts == sorted(starts)


async def test_progress_stream_and_problem_answers(
    shop: tuple[dict[str, BuiltRelease], Config, CdnStub],
) -> None:
    releases, config, _ = shop
    agent = await start_agent(config, releases)
    try:
        headers = {"Authorization": f"Bearer {agent.token}"}
        seen: list[dict[str, Any]] = []
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.ws_connect(f"{agent.running.url}/api/v1/events") as socket,
        ):
            download_id = await install(agent, "alpha")
            async with asyncio.timeout(30):
                async for message in socket:
                    event = message.json()["download"]
                    seen.append(event)
                    if event["id"] == download_id and event["state"] == "installed":
                        break
        states = [event["state"] for event in seen if event["id"] == download_id]
        assert "downloading" in states and states[-1] == "installed"
        assert seen[-1]["fraction"] == 1.0
        status, progress = await agent.call("GET", f"/api/v1/downloads/{download_id}/progress")
        assert status == 200 and progress["downloaded_bytes"] == progress["total_bytes"]
        for method, path, body, expected in [
            ("PUT", "/api/v1/downloads/nope/pause", None, (404, "DOWNLOAD_NOT_FOUND")),
            ("PUT", f"/api/v1/downloads/{download_id}/pause", None, (409, None)),
            ("PUT", "/api/v1/settings", {"max_concurrent_downloads": 0}, (422, None)),
            ("PUT", "/api/v1/queue/reorder", {"order": ["x"]}, (409, None)),
        ]:
            status, problem = await agent.call(method, path, body)
            assert (status, problem["status"]) == (expected[0], expected[0]), problem
            if expected[1]:
                assert problem["code"] == expected[1]
        limits = {"download_rate_limit": 100_000, "upload_rate_limit": 20_000}
        status, limited = await agent.call("PUT", f"/api/v1/downloads/{download_id}/limits", limits)
        assert status == 200 and limited["download_rate_limit"] == 100_000
        bad = {"download_rate_limit": -5}
        status, _ = await agent.call("PUT", f"/api/v1/downloads/{download_id}/limits", bad)
        assert status == 422
        status, stats = await agent.call("GET", "/api/v1/stats/bandwidth")
        assert status == 200 and stats["cdn_bytes"] >= releases["alpha"].total_size
        status, storage = await agent.call("GET", "/api/v1/stats/storage")
        assert storage["games"]["alpha"] == releases["alpha"].total_size
        assert storage["free_bytes"] > 0
        status, _ = await agent.call("DELETE", f"/api/v1/downloads/{download_id}")
        assert status == 204
        assert not (config.agent.install_dir / "alpha" / "1" / "game.bin").exists()
        status, _ = await agent.call("GET", f"/api/v1/downloads/{download_id}")
        assert status == 404
    finally:
        await agent.stop()
