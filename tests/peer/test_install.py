"""Real installs on loopback: the release is signed into a real trust repository, a peer and a
CDN node (trust metadata, web seed and BitTorrent) serve it, the library admits the player."""

import argparse
import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from peer_support import (
    GAME,
    BuiltRelease,
    LibraryStub,
    Seeder,
    cdn_app,
    publish,
    tracker_app,
)

from peer import ENGINE, Download, DownloadState, create_app
from peer.commands import install_game
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app

MIB = 1024 * 1024


@pytest.fixture
async def network(
    tmp_path: Path,
    built_release: BuiltRelease,
    library: tuple[LibraryStub, RunningApp],
    agent_config: Config,
) -> AsyncIterator[dict[str, Any]]:
    trust_dir = tmp_path / "trust"
    root = await asyncio.to_thread(publish, built_release, trust_dir, tmp_path / "keys")
    (tmp_path / "root.json").write_bytes(root)
    peer = Seeder(built_release, upload_rate_limit=2 * MIB)
    cdn_seeder = Seeder(built_release, upload_rate_limit=1 * MIB)
    await asyncio.gather(peer.until_seeding(), cdn_seeder.until_seeding())
    tracker = await start_app(tracker_app([("127.0.0.1", peer.port)]))
    cdn_node = cdn_app(built_release, trust_dir, cdn_seeder.port, bytes_per_second=MIB)
    cdn = await start_app(cdn_node)
    stub, library_app = library
    config = replace(
        agent_config,
        agent=replace(
            agent_config.agent,
            cdn_urls=(cdn.url,),
            tracker_url=tracker.url,
            library_url=library_app.url,
            trusted_root=tmp_path / "root.json",
        ),
    )
    agent = await start_app(create_app(config))
    token = (config.agent.data_dir / "api.token").read_text().strip()
    yield {"agent": agent, "token": token, "config": config, "library": stub, "trust": trust_dir}
    await agent.stop()
    await asyncio.gather(cdn.stop(), tracker.stop())
    peer.close()
    cdn_seeder.close()


async def install_through_api(network: dict[str, Any], game_id: str) -> Download:
    agent: RunningApp = network["agent"]
    headers = {"Authorization": f"Bearer {network['token']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        body = {"game_id": game_id, "release": None}
        async with http.post(f"{agent.url}/api/v1/downloads", json=body) as response:
            assert response.status == 202
            created = await response.json()
    assert created["state"] == "queued"
    engine = agent.runner.app[ENGINE]
    async with asyncio.timeout(60):
        return await engine.wait(created["id"])


async def test_install_downloads_verifies_and_splits_peer_and_cdn_bytes(
    network: dict[str, Any], built_release: BuiltRelease
) -> None:
    download = await install_through_api(network, GAME)
    assert download.state is DownloadState.INSTALLED, download.error
    assert download.verified and download.release == built_release.release
    assert download.total_bytes == built_release.total_size
    assert download.peer_bytes > 0 and download.cdn_bytes > 0
    # hybrid torrents pad files to piece boundaries: a few zero bytes may count as delivered
    delivered = download.peer_bytes + download.cdn_bytes
    assert built_release.total_size <= delivered < built_release.total_size * 1.05
    install_root = network["config"].agent.install_dir / GAME / str(built_release.release)
    for entry in built_release.files:
        assert (install_root / entry.path).stat().st_size == entry.size
    assert network["library"].statuses == [(GAME, "installing"), (GAME, "installed")]
    agent: RunningApp = network["agent"]
    headers = {"Authorization": f"Bearer {network['token']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{agent.url}/api/v1/downloads/{download.id}") as response:
            served = await response.json()
        async with http.get(f"{agent.url}/api/v1/downloads") as response:
            listed = await response.json()
    assert served["state"] == "installed" and served["verified"] is True
    assert [item["id"] for item in listed["items"]] == [download.id]


async def test_install_of_unowned_game_is_refused(network: dict[str, Any]) -> None:
    download = await install_through_api(network, "not-owned-game")
    assert download.state is DownloadState.REFUSED
    assert download.error == "user alice does not own game not-owned-game"
    assert not download.verified


async def test_tampered_manifest_is_refused_naming_the_attack(
    network: dict[str, Any], built_release: BuiltRelease
) -> None:
    targets = network["trust"] / "targets" / "games" / GAME / str(built_release.release)
    for target in targets.iterdir():
        signed = target.read_bytes()
        target.write_bytes(signed.replace(b'"version":"1.0.0"', b'"version":"6.6.6"'))
    download = await install_through_api(network, GAME)
    assert download.state is DownloadState.FAILED
    assert download.error is not None and "ArbitrarySoftware" in download.error
    assert network["library"].statuses == [(GAME, "installing"), (GAME, "failed")]
    assert not (network["config"].agent.install_dir / GAME / "1").exists()


async def test_install_command_waits_and_reports(
    network: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config: Config = network["config"]
    args = argparse.Namespace(
        game=GAME, release=None, agent_url=network["agent"].url, no_wait=False
    )
    assert await asyncio.to_thread(install_game, args, config) == 0
    assert "installed space-game release 1" in capsys.readouterr().out
    args.game = "not-owned-game"
    assert await asyncio.to_thread(install_game, args, config) == 1
    assert "refused: user alice does not own game not-owned-game" in capsys.readouterr().err


async def test_files_that_differ_from_the_manifest_fail_the_install(
    network: dict[str, Any], built_release: BuiltRelease, tmp_path: Path
) -> None:
    # a manifest whose torrent is intact but whose file hash is wrong: pieces all pass their
    # hash checks, so only the file check against the manifest can catch it
    wrong = replace(built_release.files[0], sha256="0" * 64)
    manifest = replace(built_release, files=(wrong, *built_release.files[1:]))

    async def source(game_id: str, release: int | None) -> BuiltRelease:
        return manifest

    base: Config = network["config"]
    config = replace(
        base,
        agent=replace(
            base.agent, data_dir=tmp_path / "other", install_dir=tmp_path / "other-games"
        ),
    )
    agent = await start_app(create_app(config, release_source=source))
    try:
        engine = agent.runner.app[ENGINE]
        download = await engine.install(GAME)
        async with asyncio.timeout(60):
            download = await engine.wait(download.id)
    finally:
        await agent.stop()
    assert download.state is DownloadState.FAILED and not download.verified
    assert download.error == (
        f"1 file(s) do not match the manifest: {wrong.path}: SHA-256 does not match the manifest"
    )
