"""kill -9 of a real ``peerpipe agent serve`` process in the middle of a download."""

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import libtorrent as lt
import pytest
from peer_support import (
    GAME,
    PIECE_LENGTH,
    PLATFORM_KEY,
    AgentProcess,
    BuiltRelease,
    CdnStub,
    LibraryStub,
    make_build,
    publish,
    until,
)

from peer.swarm import limit_local_peers
from peerpipe.service import RunningApp, free_port, start_app
from peerpipe.tokens import Role, mint_token
from peerpipe.torrent_session import session_settings

MIB = 1024 * 1024
pytestmark = pytest.mark.slow


@pytest.fixture
async def crash_setup(
    tmp_path: Path,
) -> AsyncIterator[tuple[AgentProcess, CdnStub, BuiltRelease]]:
    release = make_build(tmp_path / "build", {"game.bin": 5 * MIB, "data/level.pak": MIB})
    root = await asyncio.to_thread(publish, release, tmp_path / "trust", tmp_path / "keys")
    (tmp_path / "root.json").write_bytes(root)
    cdn = CdnStub({GAME: release}, MIB, trust_dir=tmp_path / "trust")
    library = LibraryStub(owned={GAME})
    apps: list[RunningApp] = [await start_app(cdn.app()), await start_app(library.app())]
    data_dir = tmp_path / "agent"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERPIPE_")}
    env.update(
        {
            "PEERPIPE_DATA_DIR": str(tmp_path / "platform"),
            "PEERPIPE_PLATFORM_KEY": PLATFORM_KEY,
            "PEERPIPE_AGENT_PORT": str(free_port()),
            "PEERPIPE_AGENT_DATA_DIR": str(data_dir),
            "PEERPIPE_AGENT_INSTALL_DIR": str(tmp_path / "games"),
            "PEERPIPE_TRUSTED_ROOT": str(tmp_path / "root.json"),
            "PEERPIPE_USER_TOKEN": mint_token(PLATFORM_KEY, "alice", Role.USER),
            "PEERPIPE_CDN_URLS": apps[0].url,
            "PEERPIPE_TRACKER_URL": "http://127.0.0.1:9",
            "PEERPIPE_LIBRARY_URL": apps[1].url,
        }
    )
    agent = AgentProcess(env, data_dir, tmp_path / "agent.log")
    yield agent, cdn, release
    await agent.stop()
    for app in apps:
        await app.stop()


def verified_bytes(release: BuiltRelease, install_dir: Path) -> int:
    """What a fresh libtorrent session finds intact on disk (a full hash check)."""
    session = lt.session(lt.session_params(cast("lt.settings_pack", session_settings())))
    limit_local_peers(session)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(release.torrent.data)
    params.save_path = str(install_dir)
    params.flags &= ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
    handle = session.add_torrent(params)  # no resume data: the files are hash-checked
    while str(handle.status().state) not in ("downloading", "seeding", "finished"):
        session.pop_alerts()
        session.wait_for_alert(50)
    done = int(handle.status().total_wanted_done)
    session.remove_torrent(handle)
    return done


async def test_kill_9_then_restart_fetches_only_what_was_missing(
    crash_setup: tuple[AgentProcess, CdnStub, BuiltRelease], tmp_path: Path
) -> None:
    agent, cdn, release = crash_setup
    await agent.start()
    settings = await agent.call("PUT", "/api/v1/settings", {"upload_rate_limit": 12_345})
    download = await agent.call("POST", "/api/v1/downloads", {"game_id": GAME})

    async def partly_done() -> bool:
        found = await agent.call("GET", f"/api/v1/downloads/{download['id']}")
        return bool(found["downloaded_bytes"] >= 2 * MIB)

    await until(partly_done, 30)
    await agent.kill()
    served_before = cdn.served
    on_disk = await asyncio.to_thread(verified_bytes, release, tmp_path / "games" / GAME)
    missing = release.total_size - on_disk
    assert 0 < missing < release.total_size

    await agent.start()
    assert await agent.call("GET", "/api/v1/settings") == settings

    async def installed() -> bool:
        found = await agent.call("GET", f"/api/v1/downloads/{download['id']}")
        return bool(found["state"] == "installed")

    await until(installed, 60)
    fetched_after = cdn.served - served_before
    active_files = len(release.files)
    assert fetched_after <= missing + active_files * PIECE_LENGTH, (fetched_after, missing)
    final = await agent.call("GET", f"/api/v1/downloads/{download['id']}")
    assert final["verified"] is True
