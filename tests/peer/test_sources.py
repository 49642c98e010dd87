"""Where the bytes come from when sources misbehave: a corrupt peer, a CDN node that is down,
a CDN node whose web seed fails (failover to the next node)."""

import asyncio
import shutil
from pathlib import Path

from peer_support import (
    GAME,
    BuiltRelease,
    CdnStub,
    LibraryStub,
    Seeder,
    agent_config,
    start_agent,
    tracker_app,
)

from peer import DownloadState
from peerpipe.config import Config
from peerpipe.service import free_port, start_app

MIB = 1024 * 1024


def copy_of(release: BuiltRelease, root: Path) -> BuiltRelease:
    shutil.copytree(release.build_dir, root)
    return BuiltRelease(
        release.game_id, release.version, release.release, release.total_size,
        release.files, release.torrent, root,
    )  # fmt: skip


def corrupt(release: BuiltRelease) -> None:
    """Flip a byte in every 64 KiB of the release's files, in place."""
    for entry in release.files:
        path = release.build_dir / str(release.release) / entry.path
        data = bytearray(path.read_bytes())
        for offset in range(1000, len(data), 64 * 1024):
            data[offset] ^= 0xFF
        path.write_bytes(bytes(data))


async def test_a_peer_sending_corrupt_data_is_banned_and_the_install_completes(
    built_release: BuiltRelease, agent_config: Config, tmp_path: Path
) -> None:
    lies = copy_of(built_release, tmp_path / "hostile")
    hostile = Seeder(lies, 0)
    await hostile.until_seeding()
    corrupt(lies)  # after its own check: it now serves bad data as if it were good
    tracker = await start_app(tracker_app([("127.0.0.1", hostile.port)]))
    library = await start_app(LibraryStub(owned={GAME}).app())
    cdn = CdnStub({GAME: built_release}, 2 * MIB)
    cdn_app = await start_app(cdn.app())
    config = agent_config_for(agent_config, [cdn_app.url], tracker.url, library.url)
    agent = await start_agent(config, {GAME: built_release})
    try:
        download = await agent.engine.install(GAME)
        async with asyncio.timeout(60):
            download = await agent.engine.wait(download.id)
        _, stats = await agent.call("GET", "/api/v1/stats/bandwidth")
    finally:
        await agent.stop()
        await asyncio.gather(tracker.stop(), library.stop(), cdn_app.stop())
        hostile.close()
    assert download.state is DownloadState.INSTALLED and download.verified, download.error
    assert stats["banned_peers"] >= 1
    assert cdn.served >= built_release.total_size * 0.5  # the CDN filled in for the liar


def agent_config_for(base: Config, cdn: list[str], tracker: str, library: str) -> Config:
    return agent_config(base, cdn=cdn, tracker=tracker, library=library)


async def test_peers_alone_deliver_when_the_cdn_is_down(
    built_release: BuiltRelease, agent_config: Config
) -> None:
    peer = Seeder(built_release, 4 * MIB)
    await peer.until_seeding()
    tracker = await start_app(tracker_app([("127.0.0.1", peer.port)]))
    library = await start_app(LibraryStub(owned={GAME}).app())
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    config = agent_config_for(agent_config, [down], tracker.url, library.url)
    agent = await start_agent(config, {GAME: built_release})
    try:
        download = await agent.engine.install(GAME)
        async with asyncio.timeout(60):
            download = await agent.engine.wait(download.id)
    finally:
        await agent.stop()
        await asyncio.gather(tracker.stop(), library.stop())
        peer.close()
    assert download.state is DownloadState.INSTALLED and download.verified, download.error
    assert download.cdn_bytes == 0 and download.peer_bytes >= built_release.total_size


async def test_a_failing_cdn_node_fails_over_to_the_next(
    built_release: BuiltRelease, agent_config: Config
) -> None:
    near = CdnStub({GAME: built_release}, 4 * MIB, region="near", broken=True)
    far = CdnStub({GAME: built_release}, 4 * MIB, region="far")
    apps = [await start_app(near.app()), await start_app(far.app())]
    library = await start_app(LibraryStub(owned={GAME}).app())
    config = agent_config_for(agent_config, [app.url for app in apps], "", library.url)
    agent = await start_agent(config, {GAME: built_release})
    try:
        status, _ = await agent.call("PUT", "/api/v1/regions/preferred", {"region": "near"})
        assert status == 200
        status, regions = await agent.call("GET", "/api/v1/regions")
        assert [node["region"] for node in regions["nodes"]] == ["near", "far"]
        assert regions["preferred"] == "near"
        download = await agent.engine.install(GAME)
        async with asyncio.timeout(60):
            download = await agent.engine.wait(download.id)
    finally:
        await agent.stop()
        await asyncio.gather(library.stop(), *(app.stop() for app in apps))
    assert download.state is DownloadState.INSTALLED and download.verified, download.error
    assert near.served == 0 and far.served >= built_release.total_size
    assert download.cdn_bytes >= built_release.total_size


async def test_a_cdn_node_back_after_a_failed_probe_serves_within_seconds(
    built_release: BuiltRelease, agent_config: Config
) -> None:
    # Alone with one CDN node that did not answer the first probe: the download needs it, so
    # the agent probes again within a second or two instead of idling until the periodic
    # probe 15 s later.
    port = free_port()
    library = await start_app(LibraryStub(owned={GAME}).app())
    cdn = CdnStub({GAME: built_release}, 8 * MIB)
    config = agent_config_for(agent_config, [f"http://127.0.0.1:{port}"], "", library.url)
    agent = await start_agent(config, {GAME: built_release})
    cdn_app = None
    try:
        download = await agent.engine.install(GAME)
        await asyncio.sleep(1.0)  # the node is down for the first probe and a while after
        cdn_app = await start_app(cdn.app(), port=port)
        async with asyncio.timeout(10):
            download = await agent.engine.wait(download.id)
    finally:
        await agent.stop()
        await library.stop()
        if cdn_app is not None:
            await cdn_app.stop()
    assert download.state is DownloadState.INSTALLED and download.verified, download.error
    assert download.cdn_bytes >= built_release.total_size
