"""A real libtorrent client downloads a published release from a CDN node on loopback:
over BitTorrent from its seed, and over HTTP from its BEP 19 web seed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import libtorrent as lt
import pytest
from seeder_helpers import GAME, PASSPHRASE, BuildMaker, random_bytes, wait_for, wait_for_files

from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from peerpipe.torrent_session import session_settings
from seeder import PublishResult, create_app, publish_release
from seeder.cdn import NODE_KEY
from seeder.origin_settings import SeederOriginSettings
from seeder.s3_origin import S3Origin

FILES = {"bin/game": random_bytes(900_000, 3), "data/world.pak": random_bytes(2_100_000, 4)}


@pytest.fixture
async def client_session() -> AsyncIterator[Any]:
    session = lt.session(session_settings())  # type: ignore[arg-type]
    yield session
    session.pause()


@pytest.fixture(params=["local", "s3"])
def origin(request: pytest.FixtureRequest) -> SeederOriginSettings | None:
    """Each origin store: None for the local folder, or a bucket on an S3-protocol server."""
    if request.param == "local":
        return None
    settings: SeederOriginSettings = request.getfixturevalue("s3_settings")
    return settings


async def _start_cdn(
    config: Config, seed: bool, origin: SeederOriginSettings | None = None
) -> tuple[RunningApp, Config]:
    # With an S3 origin the node's own folder starts empty: it has to mirror the release.
    node_config = (
        replace(config, seeder=replace(config.seeder, origin_dir=config.data_dir / "node-cache"))
        if origin
        else config
    )
    running = await start_app(create_app(node_config, seed=seed, origin=origin))
    wired = replace(config, agent=replace(config.agent, cdn_urls=(running.url,)))
    return running, wired


async def _publish(
    build: Path, key: Path, config: Config, origin: SeederOriginSettings | None
) -> PublishResult:
    def publish() -> PublishResult:
        if origin is None:
            return publish_release(build, GAME, "1.0", key, PASSPHRASE, config, register=False)
        with S3Origin(origin) as store:
            return publish_release(
                build, GAME, "1.0", key, PASSPHRASE, config, register=False, origin=store
            )

    return await asyncio.to_thread(publish)


def _add(session: Any, torrent: bytes, save_path: Path, web_seeds: bool) -> Any:
    decoded = lt.bdecode(torrent)
    decoded.pop(b"announce")  # no tracker in these tests: the CDN is reached directly
    if not web_seeds:
        decoded.pop(b"url-list")
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(decoded)
    params.save_path = str(save_path)
    return session.add_torrent(params)


async def test_client_downloads_a_release_from_the_cdn_bittorrent_seed(
    make_build: BuildMaker,
    publisher_key: Path,
    config: Config,
    client_session: Any,
    tmp_path: Path,
    origin: SeederOriginSettings | None,
) -> None:
    running, wired = await _start_cdn(config, seed=True, origin=origin)
    try:
        result = await _publish(make_build(FILES), publisher_key, wired, origin)
        async with aiohttp.ClientSession() as http, http.get(f"{running.url}/health") as response:
            bt_port = (await response.json())["bt_port"]
        assert isinstance(bt_port, int) and bt_port > 0
        seeder = running.runner.app[NODE_KEY].seeder
        assert seeder is not None
        await wait_for(
            lambda: (GAME, 1) in seeder.seeded_releases, within=10, what="the CDN to seed it"
        )
        handle = _add(client_session, result.manifest.torrent.data, tmp_path / "player", False)
        handle.connect_peer(("127.0.0.1", bt_port))

        def finished() -> bool:
            return bool(handle.status().is_seeding)

        await wait_for(finished, within=30, what="the download from the CDN's BT seed")
        assert handle.status().total_payload_download >= sum(map(len, FILES.values()))
        await wait_for_files(tmp_path / "player" / "1", FILES)
    finally:
        await running.stop()


async def test_client_downloads_a_release_from_the_cdn_web_seed(
    make_build: BuildMaker,
    publisher_key: Path,
    config: Config,
    client_session: Any,
    tmp_path: Path,
    origin: SeederOriginSettings | None,
) -> None:
    running, wired = await _start_cdn(config, seed=False, origin=origin)
    try:
        result = await _publish(make_build(FILES), publisher_key, wired, origin)
        handle = _add(client_session, result.manifest.torrent.data, tmp_path / "player", True)
        await wait_for(
            lambda: bool(handle.status().is_seeding),
            within=30,
            what="the download from the CDN's web seed",
        )
        await wait_for_files(tmp_path / "player" / "1", FILES)
    finally:
        await running.stop()
