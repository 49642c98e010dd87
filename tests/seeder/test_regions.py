"""Several CDN nodes in different regions serving one origin: each says where it is, they
serve identical bytes and validators, and a client fails over when one of them is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
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
from seeder.origin_settings import SeederOriginSettings
from seeder.s3_origin import S3Origin

FILES = {"bin/game": random_bytes(600_000, 21), "data/map.pak": random_bytes(1_700_000, 22)}
REGIONS = ("eu-west", "us-east")


@dataclass
class Fleet:
    nodes: list[RunningApp]
    result: PublishResult


def _node_config(config: Config, region: str) -> Config:
    # Each node has a cache folder of its own: the origin they share is the bucket.
    return replace(
        config,
        seeder=replace(config.seeder, region=region, origin_dir=config.data_dir / region),
    )


@pytest.fixture
async def fleet(
    make_build: BuildMaker,
    publisher_key: Path,
    config: Config,
    s3_settings: SeederOriginSettings,
) -> AsyncIterator[Fleet]:
    nodes = [
        await start_app(create_app(_node_config(config, region), seed=False, origin=s3_settings))
        for region in REGIONS
    ]
    wired = replace(config, agent=replace(config.agent, cdn_urls=tuple(n.url for n in nodes)))

    def publish() -> PublishResult:
        with S3Origin(s3_settings) as store:
            return publish_release(
                make_build(FILES),
                GAME,
                "1",
                publisher_key,
                PASSPHRASE,
                wired,
                register=False,
                origin=store,
            )

    result = await asyncio.to_thread(publish)
    yield Fleet(nodes, result)
    for node in nodes:
        await node.stop()


async def test_each_node_reports_its_region(fleet: Fleet) -> None:
    async with aiohttp.ClientSession() as http:
        regions = []
        for node in fleet.nodes:
            async with http.get(f"{node.url}/health") as response:
                regions.append((await response.json())["region"])
    assert tuple(regions) == REGIONS


async def test_nodes_serve_the_same_bytes_and_validators(fleet: Fleet) -> None:
    described = fleet.result.manifest.files[1]
    paths = [f"/files/{GAME}/1/{described.path}"]
    paths += [f"/chunks/{chunk.sha256}" for chunk in described.chunks]
    async with aiohttp.ClientSession() as http:
        for path in paths:
            answers = []
            for node in fleet.nodes:
                async with http.get(node.url + path, headers={"Range": "bytes=5-"}) as response:
                    assert response.status == 206
                    answers.append((response.headers["ETag"], await response.read()))
            # Same strong ETag everywhere: a client resuming with If-Range on another node
            # gets the rest of the same file, not a mix of two.
            assert answers[0] == answers[1]
            etag = answers[0][0]
            other = fleet.nodes[1].url + path
            async with http.get(other, headers={"Range": "bytes=0-4", "If-Range": etag}) as r:
                assert r.status == 206
        for path in paths[1:]:
            async with http.get(fleet.nodes[0].url + path) as response:
                assert "immutable" in response.headers["Cache-Control"]


async def test_a_client_fails_over_to_the_node_still_up(fleet: Fleet, tmp_path: Path) -> None:
    torrent = lt.bdecode(fleet.result.manifest.torrent.data)
    assert torrent[b"url-list"] == [f"{n.url}/files/{GAME}/".encode() for n in fleet.nodes]
    await fleet.nodes[0].stop()  # the first region goes down
    session: Any = lt.session(session_settings())  # type: ignore[arg-type]
    try:
        torrent.pop(b"announce")
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(torrent)
        params.save_path = str(tmp_path)
        handle = session.add_torrent(params)
        await wait_for(
            lambda: bool(handle.status().is_seeding), within=30, what="a download via node 2"
        )
        await wait_for_files(tmp_path / "1", FILES)
    finally:
        session.pause()
