"""Publishing into each origin store — a local folder and an S3-protocol bucket (moto's server
mode on loopback) — and a CDN node serving the published release back out of it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from seeder_helpers import GAME, PASSPHRASE, BuildMaker, object_keys, put_objects, random_bytes

from peerpipe.config import Config
from peerpipe.service import free_port, start_app
from seeder import create_app, publish_release
from seeder.origin import LocalOrigin, OriginStore
from seeder.origin_settings import SeederOriginSettings
from seeder.s3_origin import S3Bucket, S3Origin, chunk_key, file_key

FILES = {
    "bin/game": random_bytes(1_300_000, 11),
    "data/world.pak": random_bytes(2_600_000, 12),
    "readme.txt": b"hello",
}
STALE = b"planted to see whether the chunk is written again"


@dataclass
class Origin:
    store: OriginStore
    settings: SeederOriginSettings | None  # None: the local folder of config.seeder.origin_dir
    config: Config

    def plant(self, sha256: str) -> None:
        """Overwrite a stored chunk, so that a second upload of it would show."""
        if self.settings is None:
            assert isinstance(self.store, LocalOrigin)
            self.store.chunk_path(sha256).write_bytes(STALE)
        else:
            key = self.settings.prefix + chunk_key(sha256)
            asyncio.run(put_objects(self.settings, {key: STALE}))

    def plant_file(self, release: int, path: str, data: bytes) -> None:
        """Replace a published file by other bytes (by rename, as the origin itself does)."""
        if self.settings is None:
            assert isinstance(self.store, LocalOrigin)
            target = self.store.release_dir(GAME, release) / path
            temp = target.with_name(".planted")
            temp.write_bytes(data)
            temp.replace(target)
        else:
            key = self.settings.prefix + file_key(GAME, release, path)
            asyncio.run(put_objects(self.settings, {key: data}))

    def file(self, release: int, path: str) -> bytes:
        if self.settings is None:
            assert isinstance(self.store, LocalOrigin)
            return (self.store.release_dir(GAME, release) / path).read_bytes()
        return asyncio.run(_read(self.settings, file_key(GAME, release, path)))

    def chunk(self, sha256: str) -> bytes:
        if self.settings is None:
            assert isinstance(self.store, LocalOrigin)
            return self.store.chunk_path(sha256).read_bytes()
        return asyncio.run(_read(self.settings, chunk_key(sha256)))


async def _read(settings: SeederOriginSettings, key: str) -> bytes:
    async with S3Bucket(settings) as bucket:
        return await bucket.read(key)


@pytest.fixture(params=["local", "s3"])
def origin(request: pytest.FixtureRequest, config: Config) -> Iterator[Origin]:
    if request.param == "local":
        yield Origin(LocalOrigin(config.seeder.origin_dir), None, config)
        return
    settings: SeederOriginSettings = request.getfixturevalue("s3_settings")
    # The node must not find the release in a local folder by accident.
    elsewhere = replace(config, seeder=replace(config.seeder, origin_dir=config.data_dir / "void"))
    with S3Origin(settings) as store:
        yield Origin(store, settings, elsewhere)


def publish(build: Path, key: Path, origin: Origin, version: str) -> Any:
    return publish_release(
        build, GAME, version, key, PASSPHRASE, origin.config, register=False, origin=origin.store
    )


def test_chunks_already_in_the_origin_are_not_uploaded_again(
    make_build: BuildMaker, publisher_key: Path, origin: Origin
) -> None:
    first = publish(make_build(FILES), publisher_key, origin, "1.0")
    chunks = [chunk for described in first.manifest.files for chunk in described.chunks]
    assert len(chunks) >= 3
    for chunk in chunks:
        origin.plant(chunk.sha256)
    patched = dict(FILES, **{"readme.txt": b"hello, patched"})
    second = publish(make_build(patched), publisher_key, origin, "1.1")
    assert second.created and second.manifest.release == 2
    # Unchanged chunks were found in the origin and left alone; the new one was uploaded.
    assert all(origin.chunk(chunk.sha256) == STALE for chunk in chunks)
    new = second.manifest.files[2].chunks[0]
    assert origin.chunk(new.sha256) == b"hello, patched"


def test_stored_torrents_list_every_release(
    make_build: BuildMaker, publisher_key: Path, origin: Origin
) -> None:
    publish(make_build(FILES), publisher_key, origin, "1.0")
    publish(make_build({"a.bin": b"other"}), publisher_key, origin, "2.0")
    assert [(t.game_id, t.release) for t in origin.store.torrents()] == [(GAME, 1), (GAME, 2)]


def test_the_s3_layout_follows_the_origin_layout(
    make_build: BuildMaker, publisher_key: Path, config: Config, s3_settings: SeederOriginSettings
) -> None:
    with S3Origin(s3_settings) as store:
        result = publish_release(
            make_build({"a/b.bin": b"bytes"}),
            GAME,
            "1",
            publisher_key,
            PASSPHRASE,
            config,
            register=False,
            origin=store,
        )
    sha = result.manifest.files[0].chunks[0].sha256
    assert asyncio.run(object_keys(s3_settings)) == [
        f"origin/chunks/{sha[:2]}/{sha}",
        f"origin/files/{GAME}/1/a/b.bin",
        f"origin/torrents/{GAME}/1.torrent",
    ]


async def test_a_node_serves_what_was_published_into_its_origin(
    make_build: BuildMaker, publisher_key: Path, origin: Origin
) -> None:
    result = await asyncio.to_thread(publish, make_build(FILES), publisher_key, origin, "1.0")
    running = await start_app(create_app(origin.config, seed=False, origin=origin.settings))
    try:
        async with aiohttp.ClientSession() as http:
            for path, data in FILES.items():
                url = f"{running.url}/files/{GAME}/1/{path}"
                async with http.get(url) as response:
                    assert response.status == 200 and await response.read() == data
                async with http.get(url, headers={"Range": "bytes=3-9"}) as response:
                    assert response.status == 206 and await response.read() == data[3:10]
            described = result.manifest.files[1]
            for chunk in described.chunks:
                async with http.get(f"{running.url}/chunks/{chunk.sha256}") as response:
                    body = await response.read()
                    assert hashlib.sha256(body).hexdigest() == chunk.sha256
                    assert response.headers["ETag"] == f'"{chunk.sha256}"'
    finally:
        await running.stop()


def test_same_listing_with_other_bytes_is_a_new_release_with_its_own_files(
    make_build: BuildMaker, publisher_key: Path, origin: Origin
) -> None:
    first = publish(make_build(FILES), publisher_key, origin, "1.0")
    again = publish(make_build(FILES), publisher_key, origin, "1.0")
    assert not again.created and again.manifest == first.manifest
    # Same version, paths and sizes, other bytes: not a republish, however alike it looks.
    changed = dict(FILES, **{"readme.txt": b"HELLO"})
    second = publish(make_build(changed), publisher_key, origin, "1.0")
    assert second.created and second.manifest.release == 2
    sha = second.manifest.files[2].chunks[0].sha256
    assert origin.chunk(sha) == b"HELLO"
    assert [t.release for t in origin.store.torrents()] == [1, 2]


async def test_a_file_larger_than_one_part_goes_up_in_parts_and_comes_back_whole(
    make_build: BuildMaker, publisher_key: Path, config: Config, s3_settings: SeederOriginSettings
) -> None:
    big = random_bytes(9 * 1024 * 1024 + 4321, 13)  # more than one 8 MiB part

    def publish_big() -> Any:
        with S3Origin(s3_settings) as store:
            return publish_release(
                make_build({"big.pak": big}),
                GAME,
                "1",
                publisher_key,
                PASSPHRASE,
                config,
                register=False,
                origin=store,
            )

    await asyncio.to_thread(publish_big)
    async with S3Bucket(s3_settings) as bucket:
        assert await bucket.read(f"files/{GAME}/1/big.pak") == big


def test_files_unchanged_since_the_last_release_are_reused_not_uploaded(
    make_build: BuildMaker, publisher_key: Path, origin: Origin
) -> None:
    publish(make_build(FILES), publisher_key, origin, "1.0")
    # Swap release 1's copy of an unchanged file for same-sized marker bytes: if release 2
    # shows them too, its copy came from the origin itself (link or server-side copy).
    marker = b"m" * len(FILES["bin/game"])
    origin.plant_file(1, "bin/game", marker)
    patched = dict(FILES, **{"readme.txt": b"hello, patched"})
    publish(make_build(patched), publisher_key, origin, "1.1")
    assert origin.file(2, "bin/game") == marker
    assert origin.file(2, "data/world.pak") == FILES["data/world.pak"]
    assert origin.file(2, "readme.txt") == b"hello, patched"


async def test_an_unreachable_s3_origin_is_a_clear_502_not_a_crash(config: Config) -> None:
    dead = SeederOriginSettings(
        s3_url=f"http://127.0.0.1:{free_port()}", bucket="gone", access_key="a", secret_key="b"
    )
    running = await start_app(create_app(config, seed=False, origin=dead))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/files/{GAME}/1/readme.txt") as response:
                assert response.status == 502
                assert response.content_type == "application/problem+json"
                assert "unreachable" in (await response.json())["detail"]
            async with http.get(f"{running.url}/health") as response:
                assert response.status == 200
    finally:
        await running.stop()
