"""Preload and unlock: a locked release's sealed chunks are downloaded before the unlock
time with no plaintext on disk, then opened with the release key and applied without a
second download; a wrong key or a tampered sealed chunk never reaches the game."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from updates_support import (
    assert_release,
    lock_release,
    make_manifest,
    patched_game,
    publish_chunks,
    start_cdn,
    write_tree,
)

from peer.updates import (
    ChunkUnavailable,
    DirectoryChunkStore,
    FirstAvailable,
    HttpChunkSource,
    SealedChunkSource,
    UpdateApplier,
    WrongReleaseKey,
    preload,
    read_pointer,
    record_install,
    sealed_requests,
)
from peerpipe.service import RunningApp
from signing.sealing import new_release_key


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[tuple[RunningApp, Path, Path]]:
    running, origin = await start_cdn(tmp_path / "cdn")
    yield running, origin, tmp_path
    await running.stop()


async def test_a_preloaded_release_unlocks_without_a_second_download(
    scene: tuple[RunningApp, Path, Path],
) -> None:
    cdn, origin, tmp_path = scene
    old_files, new_files = patched_game(seed=90)
    old = make_manifest(old_files, 1)
    publish_chunks(origin, old_files, old)
    key = new_release_key()
    public = {c.sha256 for entry in old.files for c in entry.chunks}
    locked = lock_release(origin, new_files, make_manifest(new_files, 2), public, key)
    game_dir = tmp_path / "game"
    write_tree(game_dir / "1", old_files)
    record_install(game_dir, old)
    store = DirectoryChunkStore(game_dir / ".preload-2")
    async with aiohttp.ClientSession() as http:
        cdn_source = HttpChunkSource(http, [cdn.url])
        fetched = await preload(old, locked, cdn_source, store)
        assert fetched > 0 and await preload(old, locked, cdn_source, store) == 0
        preloaded = [p.read_bytes() for p in store.root.iterdir()]
        secret = new_files["data/new-dlc.pak"][0]
        assert len(preloaded) == len(sealed_requests(old, locked))
        assert all(secret[:64] not in data and secret[-64:] not in data for data in preloaded)

        with pytest.raises(WrongReleaseKey):
            SealedChunkSource(store, locked, new_release_key())
        after_preload = cdn_source.fetched_bytes
        opened = SealedChunkSource(FirstAvailable([store, cdn_source]), locked, key)
        await UpdateApplier(opened).apply(game_dir, locked)

    assert_release(game_dir, locked)
    assert read_pointer(game_dir).release == 2  # type: ignore[union-attr]
    assert cdn_source.fetched_bytes == after_preload  # nothing downloaded again


async def test_a_tampered_sealed_chunk_is_refused_and_the_old_release_stays(
    scene: tuple[RunningApp, Path, Path],
) -> None:
    cdn, origin, tmp_path = scene
    old_files, new_files = patched_game(seed=91)
    old = make_manifest(old_files, 1)
    publish_chunks(origin, old_files, old)
    key = new_release_key()
    public = {c.sha256 for entry in old.files for c in entry.chunks}
    locked = lock_release(origin, new_files, make_manifest(new_files, 2), public, key)
    game_dir = tmp_path / "game"
    write_tree(game_dir / "1", old_files)
    record_install(game_dir, old)
    store = DirectoryChunkStore(game_dir / ".preload-2")
    async with aiohttp.ClientSession() as http:
        await preload(old, locked, HttpChunkSource(http, [cdn.url]), store)
    # An attacker rewrites a sealed copy on disk and keeps its name: the store refuses it
    # by SHA-256, and even bytes passing that check would fail the cipher's tag.
    victim = sorted(store.root.iterdir())[0]
    damaged = bytearray(victim.read_bytes())
    damaged[40] ^= 1
    victim.write_bytes(bytes(damaged))

    with pytest.raises(ChunkUnavailable):
        await UpdateApplier(SealedChunkSource(store, locked, key)).apply(game_dir, locked)

    assert read_pointer(game_dir).release == 1  # type: ignore[union-attr]
    assert_release(game_dir, old)
