"""The download limit holds for peer and CDN bytes together, measured over 10 seconds."""

import asyncio
import time

import pytest
from peer_support import (
    GAME,
    CdnStub,
    LibraryStub,
    Seeder,
    agent_config,
    make_build,
    start_agent,
    tracker_app,
)

from peerpipe.config import Config
from peerpipe.service import start_app

MIB = 1024 * 1024
LIMIT = 600_000
pytestmark = pytest.mark.slow


async def test_scheduled_download_limit_holds_over_ten_seconds(
    agent_config: Config, tmp_path: object
) -> None:
    release = make_build(agent_config.agent.data_dir.parent / "build", {"game.bin": 9 * MIB})
    peer = Seeder(release, 0)  # both sources far faster than the limit
    await peer.until_seeding()
    tracker = await start_app(tracker_app([("127.0.0.1", peer.port)]))
    library = await start_app(LibraryStub(owned={GAME}).app())
    cdn = CdnStub({GAME: release}, 8 * MIB)
    cdn_app = await start_app(cdn.app())
    config = agent_config_for(agent_config, cdn_app.url, tracker.url, library.url)
    agent = await start_agent(config, {GAME: release})
    # limits come from a schedule window that covers the whole day
    window = {"start": "00:00", "end": "00:00", "download_rate_limit": LIMIT}
    try:
        status, _ = await agent.call(
            "PUT", "/api/v1/settings", {"schedule": [window], "p2p_target_rate": 0}
        )
        assert status == 200
        download = await agent.engine.install(GAME)
        async with asyncio.timeout(30):
            started = await agent.engine.wait_for(
                # past the first two seconds: libtorrent's rate buckets start full
                download.id,
                lambda item: item.downloaded_bytes >= 2 * LIMIT,
            )
        began, at_start = time.monotonic(), started.downloaded_bytes
        await asyncio.sleep(10)  # the measurement window itself, not a wait for a condition
        record = agent.engine.require(download.id)
        rate = (record.downloaded_bytes - at_start) / (time.monotonic() - began)
        split = (record.peer_bytes, record.cdn_bytes)
    finally:
        await agent.stop()
        await asyncio.gather(tracker.stop(), library.stop(), cdn_app.stop())
        peer.close()
    assert LIMIT * 0.9 <= rate <= LIMIT * 1.1, (rate, split)


def agent_config_for(base: Config, cdn: str, tracker: str, library: str) -> Config:
    return agent_config(base, cdn=[cdn], tracker=tracker, library=library)
