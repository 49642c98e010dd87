"""The download limit holds for peer and CDN bytes together, measured over 10 seconds."""

import asyncio
import bisect
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

from peer import Download
from peerpipe.config import Config
from peerpipe.service import start_app

MIB = 1024 * 1024
LIMIT = 600_000
WINDOW_SECONDS = 10.0
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("limited_by", ["schedule", "download"])
async def test_download_limit_holds_over_every_ten_second_window(
    agent_config: Config, limited_by: str
) -> None:
    """The session's limit (from a schedule window covering the whole day) and a download's
    own limit (set through the API as it starts) alike."""
    # about 21 s at the limit: a dozen overlapping windows
    release = make_build(agent_config.agent.data_dir.parent / "build", {"game.bin": 12 * MIB})
    player = Seeder(release, 0)  # every source far faster than the limit
    cdn_seed = Seeder(release, 0)  # the CDN node's BitTorrent seed
    await asyncio.gather(player.until_seeding(), cdn_seed.until_seeding())
    tracker = await start_app(tracker_app([("127.0.0.1", player.port)]))
    library = await start_app(LibraryStub(owned={GAME}).app())
    cdn = CdnStub({GAME: release}, 8 * MIB, bt_port=cdn_seed.port)
    cdn_app = await start_app(cdn.app())
    config = agent_config_for(agent_config, cdn_app.url, tracker.url, library.url)
    agent = await start_agent(config, {GAME: release})
    window = {"start": "00:00", "end": "00:00", "download_rate_limit": LIMIT}
    settings = {"schedule": [window] if limited_by == "schedule" else [], "p2p_target_rate": 0}
    received: list[tuple[float, int]] = []  # (when, peer + CDN bytes) at every update

    def note(item: Download) -> bool:
        received.append((time.monotonic(), item.peer_bytes + item.cdn_bytes))
        return item.total_bytes > 0 and item.downloaded_bytes >= item.total_bytes

    try:
        status, _ = await agent.call("PUT", "/api/v1/settings", settings)
        assert status == 200
        download = await agent.engine.install(GAME)
        if limited_by == "download":
            own = {"download_rate_limit": LIMIT, "upload_rate_limit": 0}
            status, _ = await agent.call("PUT", f"/api/v1/downloads/{download.id}/limits", own)
            assert status == 200
        async with asyncio.timeout(60):
            await agent.engine.wait_for(download.id, note)
        done = agent.engine.require(download.id)
    finally:
        await agent.stop()
        await asyncio.gather(tracker.stop(), library.stop(), cdn_app.stop())
        player.close()
        cdn_seed.close()
    rates = window_rates(received, WINDOW_SECONDS)
    assert len(rates) >= 10, received
    outside = [round(rate) for rate in rates if not LIMIT * 0.9 <= rate <= LIMIT * 1.1]
    assert not outside, [round(rate) for rate in rates]
    assert done.peer_bytes > 0 and done.cdn_bytes > 0, "both sources share the limit"


def window_rates(received: list[tuple[float, int]], seconds: float) -> list[float]:
    """Bytes/s over every window of ``seconds`` (half a second apart) between the first byte
    and the last, from a running count sampled at each update."""
    times = [at for at, _ in received]
    first = next(at for at, count in received if count > 0)
    last = next(at for at, count in received if count == received[-1][1])

    def count_at(moment: float) -> int:
        return received[bisect.bisect_right(times, moment) - 1][1]

    rates = []
    start = first
    while start + seconds <= last:
        rates.append((count_at(start + seconds) - count_at(start)) / seconds)
        start += 0.5
    return rates


def agent_config_for(base: Config, cdn: str, tracker: str, library: str) -> Config:
    return agent_config(base, cdn=[cdn], tracker=tracker, library=library)
