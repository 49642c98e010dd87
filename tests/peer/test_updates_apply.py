"""Applying updates against the real seeder CDN node on loopback: only changed chunks move,
the switch keeps the player's files, rollback, failover, failures that leave the old release
playable, and resuming an interrupted update."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from updates_support import (
    PARTED_CHUNKS,
    SMALL_PARTS,
    Files,
    assert_release,
    chunk_bytes,
    make_manifest,
    patched_game,
    publish_chunks,
    random_bytes,
    same_inode,
    start_cdn,
    write_tree,
)

from peer.updates import (
    ChunkRequest,
    ChunkUnavailable,
    CorruptUpdateState,
    CurrentRelease,
    FirstAvailable,
    HttpChunkSource,
    Phase,
    RecoveryAction,
    ReleaseFileChunkSource,
    RollbackUnavailable,
    UpdateApplier,
    UpdateInProgress,
    installed_manifest,
    plan_update,
    read_journal,
    read_pointer,
    record_install,
    recover,
    rollback,
)
from peerpipe.service import RunningApp, free_port, start_app
from seeder.origin import LocalOrigin
from signing import ReleaseManifest


class Cdn:
    def __init__(self, running: RunningApp, origin: Path) -> None:
        self.running = running
        self.origin = origin

    def publish(self, files: Files, release: int, parts: bool = False) -> ReleaseManifest:
        if parts:
            manifest = make_manifest(files, release, PARTED_CHUNKS, part_params=SMALL_PARTS)
        else:
            manifest = make_manifest(files, release)
        publish_chunks(self.origin, files, manifest)
        return manifest


@pytest.fixture
async def cdn(tmp_path: Path) -> AsyncIterator[Cdn]:
    running, origin = await start_cdn(tmp_path / "cdn")
    yield Cdn(running, origin)
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def install(
    http: aiohttp.ClientSession, urls: list[str], game_dir: Path, manifest: ReleaseManifest
) -> HttpChunkSource:
    source = HttpChunkSource(http, urls)
    await UpdateApplier(source).apply(game_dir, manifest)
    return source


async def test_an_update_moves_only_changed_chunks_and_keeps_player_files(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game()
    old, new = cdn.publish(old_files, 1), cdn.publish(new_files, 2)
    game_dir = tmp_path / "games" / "space-miner"
    full = await install(http, [cdn.running.url], game_dir, old)
    assert full.fetched_bytes == sum(len(c) for c in chunk_bytes(old_files, old).values())
    save = game_dir / "1" / "saves" / "slot1.sav"
    save.parent.mkdir()
    save.write_bytes(b"level 7, 300 gold")
    (game_dir / "1" / "settings.ini").write_bytes(b"fullscreen=1")
    (game_dir / "screenshots").mkdir()
    (game_dir / "screenshots" / "shot.png").write_bytes(b"png")

    source = await install(http, [cdn.running.url], game_dir, new)

    assert_release(game_dir, new)
    assert_release(game_dir, old)  # kept for an explicit rollback
    assert read_pointer(game_dir) is not None
    assert (read_pointer(game_dir).release, read_pointer(game_dir).previous) == (2, 1)  # type: ignore[union-attr]
    plan = plan_update(old, new)
    assert source.fetched_bytes == plan.fetched_bytes < new.total_size // 3
    changed = 3000 + 700 + 2000 + len(new_files["data/new-dlc.pak"][0])
    assert plan.fetched_bytes >= changed
    assert same_inode(save, game_dir / "2" / "saves" / "slot1.sav")
    assert (game_dir / "2" / "settings.ini").read_bytes() == b"fullscreen=1"
    assert (game_dir / "screenshots" / "shot.png").read_bytes() == b"png"
    assert (game_dir / "2" / "bin" / "game").stat().st_mode & 0o777 == 0o755
    assert not (game_dir / "2" / "docs").exists()
    assert read_journal(game_dir) is None
    assert not list(game_dir.glob(".staging-*"))


async def test_rollback_switches_back_and_the_next_update_retires_the_oldest(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game(seed=20)
    third_files = dict(new_files, **{"data/patch3.pak": (random_bytes(9000, 99), 0o644)})
    old, new, third = (
        cdn.publish(f, n) for n, f in ((1, old_files), (2, new_files), (3, third_files))
    )
    game_dir = tmp_path / "game"
    urls = [cdn.running.url]
    with pytest.raises(RollbackUnavailable):
        rollback(game_dir)
    await install(http, urls, game_dir, old)
    (game_dir / "1" / "slot.sav").write_bytes(b"old save")
    await install(http, urls, game_dir, new)
    (game_dir / "2" / "made-on-2.sav").write_bytes(b"new save")

    pointer = rollback(game_dir)

    assert (pointer.release, pointer.previous) == (1, 2)
    assert_release(game_dir, old)
    assert (game_dir / "1" / "made-on-2.sav").read_bytes() == b"new save"
    await install(http, urls, game_dir, new)  # forward again, to the rolled-back release
    assert_release(game_dir, new)
    await install(http, urls, game_dir, third)
    assert_release(game_dir, third)
    assert_release(game_dir, new)
    assert not (game_dir / "1").exists(), "release 1 is retired; its saves live on in 3"
    assert (game_dir / "3" / "slot.sav").read_bytes() == b"old save"
    assert (game_dir / "3" / "made-on-2.sav").read_bytes() == b"new save"
    assert sorted(p.name for p in (game_dir / ".manifests").iterdir()) == ["2.json", "3.json"]


async def test_player_files_of_a_retired_release_are_never_deleted(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    releases = [{"a.pak": (random_bytes(30_000, n), 0o644)} for n in range(3)]
    manifests = [cdn.publish(files, n + 1) for n, files in enumerate(releases)]
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, manifests[0])
    await install(http, [cdn.running.url], game_dir, manifests[1])
    # Written to release 1 after the switch: no other release holds it.
    (game_dir / "1" / "mod.cfg").write_bytes(b"player mod")
    await install(http, [cdn.running.url], game_dir, manifests[2])
    assert sorted(p.name for p in (game_dir / "1").iterdir()) == ["mod.cfg"]


async def test_failover_past_dead_and_lying_cdn_nodes(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async def lie(_: web.Request) -> web.Response:
        return web.Response(body=b"not the chunk you asked for")

    liar = web.Application()
    liar.router.add_get("/chunks/{sha256}", lie)
    running = await start_app(liar)
    try:
        files = {"a.pak": (random_bytes(100_000, 5), 0o644)}
        manifest = cdn.publish(files, 1)
        dead = f"http://127.0.0.1:{free_port()}"
        source = await install(http, [dead, running.url, cdn.running.url], tmp_path / "g", manifest)
    finally:
        await running.stop()
    assert_release(tmp_path / "g", manifest)
    # Fetches already in flight fail too; once a node answers, the source sticks to it.
    window = 8
    assert 2 <= source.failures <= 2 * window
    again = HttpChunkSource(http, [dead, cdn.running.url])
    for chunk in manifest.files[0].chunks:
        await again.fetch(ChunkRequest(chunk.sha256, chunk.size, "a.pak", chunk.offset))
    assert again.failures == 1


async def test_a_missing_chunk_leaves_the_old_release_playable_and_the_update_resumes(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game(seed=30)
    old = cdn.publish(old_files, 1)
    new = make_manifest(new_files, 2)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, old)
    # Everything but the new pack file's chunks reaches the CDN.
    partial = {k: v for k, v in new_files.items() if k != "data/new-dlc.pak"}
    publish_chunks(cdn.origin, partial, make_manifest(partial, 2))

    with pytest.raises(ChunkUnavailable):
        await install(http, [cdn.running.url], game_dir, new)

    assert read_pointer(game_dir).release == 1  # type: ignore[union-attr]
    assert_release(game_dir, old)
    journal = read_journal(game_dir)
    assert journal is not None and journal.phase is Phase.STAGING
    assert recover(game_dir).action is RecoveryAction.PARTIAL_KEPT
    publish_chunks(cdn.origin, new_files, new)
    result = await UpdateApplier(HttpChunkSource(http, [cdn.running.url])).apply(game_dir, new)
    assert result.resumed_files >= 2
    assert result.fetched_bytes < plan_update(old, new).fetched_bytes
    assert_release(game_dir, new)


async def test_recover_can_discard_a_partial_update(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game(seed=40)
    old, new = cdn.publish(old_files, 1), make_manifest(new_files, 2)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, old)
    with pytest.raises(ChunkUnavailable):
        await install(http, [cdn.running.url], game_dir, new)
    recovery = recover(game_dir, keep_partial=False)
    assert recovery.action is RecoveryAction.ROLLED_BACK
    assert recovery.current is not None and recovery.current.release == 1
    assert not (game_dir / ".staging-2").exists() and read_journal(game_dir) is None
    assert_release(game_dir, old)


async def test_a_damaged_installed_chunk_is_fetched_instead_of_copied(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game(seed=50)
    old, new = cdn.publish(old_files, 1), cdn.publish(new_files, 2)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, old)
    level = game_dir / "1" / "data" / "level1.pak"
    damaged = bytearray(level.read_bytes())
    damaged[10] ^= 0xFF
    level.write_bytes(bytes(damaged))

    source = await install(http, [cdn.running.url], game_dir, new)

    assert_release(game_dir, new)
    assert source.fetched_bytes > plan_update(old, new).fetched_bytes


async def test_applying_the_current_release_changes_nothing(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    files = {"a.pak": (random_bytes(10_000, 6), 0o644)}
    manifest = cdn.publish(files, 1)
    await install(http, [cdn.running.url], tmp_path / "g", manifest)
    result = await UpdateApplier(HttpChunkSource(http, [cdn.running.url])).apply(
        tmp_path / "g", manifest
    )
    assert not result.changed and result.fetched_bytes == 0


def test_a_corrupt_pointer_is_reported_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "current.json").write_text("{not json")
    with pytest.raises(CorruptUpdateState):
        read_pointer(tmp_path)
    (tmp_path / "current.json").write_text('{"release": 0, "previous": null}')
    with pytest.raises(CorruptUpdateState):
        rollback(tmp_path)


class GatedSource:
    """Holds every fetch until the test opens the gate, so an update stays in flight."""

    def __init__(self, inner: HttpChunkSource) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def fetch(self, request: ChunkRequest) -> bytes:
        self.waiting.set()
        await self.gate.wait()
        return await self.inner.fetch(request)


async def test_one_update_at_a_time_per_game(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    manifest = cdn.publish({"a.pak": (random_bytes(200_000, 8), 0o644)}, 1)
    game_dir = tmp_path / "game"
    source = GatedSource(HttpChunkSource(http, [cdn.running.url]))
    first = asyncio.create_task(UpdateApplier(source).apply(game_dir, manifest))
    async with asyncio.timeout(10):
        await source.waiting.wait()
    with pytest.raises(UpdateInProgress):
        await install(http, [cdn.running.url], game_dir, manifest)
    with pytest.raises(UpdateInProgress):
        rollback(game_dir)
    source.gate.set()
    await first
    assert_release(game_dir, manifest)


def test_a_release_installed_over_bittorrent_is_adopted_with_its_permissions(
    tmp_path: Path,
) -> None:
    files = {"bin/game": (b"\x7fELF", 0o755), "data.pak": (b"data", 0o644)}
    manifest = make_manifest(files, 4)
    write_tree(tmp_path / "4", {path: (data, 0o600) for path, (data, _) in files.items()})
    pointer = record_install(tmp_path, manifest)
    assert (pointer.release, pointer.previous) == (4, None)
    assert_release(tmp_path, manifest)
    assert installed_manifest(tmp_path) == manifest


async def test_a_release_file_never_overwrites_the_player_file_it_collides_with(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    first = cdn.publish({"a.pak": (random_bytes(20_000, 11), 0o644)}, 1)
    shipped = {"a.pak": (random_bytes(20_000, 11), 0o644), "user.cfg": (b"defaults", 0o644)}
    second = cdn.publish(shipped, 2)
    third = cdn.publish(dict(shipped, **{"b.pak": (b"more", 0o644)}), 3)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, first)
    (game_dir / "1" / "user.cfg").write_bytes(b"player's own settings")

    await install(http, [cdn.running.url], game_dir, second)
    assert (game_dir / "2" / "user.cfg").read_bytes() == b"defaults"
    assert (game_dir / "1" / "user.cfg").read_bytes() == b"player's own settings"
    await install(http, [cdn.running.url], game_dir, third)  # retires release 1
    assert_release(game_dir, third)
    assert (game_dir / "1" / "user.cfg").read_bytes() == b"player's own settings"


async def test_a_cancelled_update_leaves_the_old_release_and_resumes(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game(seed=90)
    old, new = cdn.publish(old_files, 1), cdn.publish(new_files, 2)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, old)
    source = GatedSource(HttpChunkSource(http, [cdn.running.url]))
    update = asyncio.create_task(UpdateApplier(source).apply(game_dir, new))
    async with asyncio.timeout(10):
        await source.waiting.wait()

    update.cancel()
    with pytest.raises(asyncio.CancelledError):
        await update

    assert read_pointer(game_dir) == CurrentRelease(1, None)
    assert_release(game_dir, old)
    await install(http, [cdn.running.url], game_dir, new)  # the lock was released
    assert_release(game_dir, new)


@pytest.mark.parametrize("parts", [False, True])
async def test_chunks_missing_from_the_chunk_store_come_as_ranges_of_release_files(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path, parts: bool
) -> None:
    old_files, new_files = patched_game(seed=100)
    new_files = dict(new_files, **{"data/with space.pak": (random_bytes(30_000, 101), 0o644)})
    old = cdn.publish(old_files, 1, parts)
    if parts:
        new = make_manifest(new_files, 2, PARTED_CHUNKS, part_params=SMALL_PARTS)
    else:
        new = make_manifest(new_files, 2)
    write_tree(LocalOrigin(cdn.origin).release_dir(new.game_id, 2), new_files)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, old)
    ranges = ReleaseFileChunkSource(http, [cdn.running.url], new.game_id, 2)
    chunks = HttpChunkSource(http, [cdn.running.url])

    await UpdateApplier(FirstAvailable([chunks, ranges])).apply(game_dir, new)

    assert_release(game_dir, new)
    assert chunks.fetched_bytes == 0  # the chunk store never had release 2
    assert ranges.fetched_bytes == plan_update(old, new).fetched_bytes
    assert plan_update(old, new).range_count > 0 or not parts


async def test_an_edit_inside_a_chunk_fetches_only_its_missing_parts_as_ranges(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game(seed=70)
    old, new = cdn.publish(old_files, 1, parts=True), cdn.publish(new_files, 2, parts=True)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, old)

    source = await install(http, [cdn.running.url], game_dir, new)

    assert_release(game_dir, new)
    plan = plan_update(old, new)
    whole_chunks = plan_update(_without_parts(old), _without_parts(new))
    assert plan.range_count >= 2
    assert source.fetched_bytes == plan.fetched_bytes < whole_chunks.fetched_bytes // 2
    changed = 3000 + 700 + 2000 + len(new_files["data/new-dlc.pak"][0])
    assert changed <= plan.fetched_bytes <= changed + 8 * 16 * 1024


async def test_a_damaged_installed_part_is_fetched_as_a_range(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    old_files, new_files = patched_game(seed=80)
    old, new = cdn.publish(old_files, 1, parts=True), cdn.publish(new_files, 2, parts=True)
    game_dir = tmp_path / "game"
    await install(http, [cdn.running.url], game_dir, old)
    pack = game_dir / "1" / "data" / "level1.pak"
    damaged = bytearray(pack.read_bytes())
    for at in range(0, len(damaged), 50_000):
        damaged[at] ^= 0xFF
    pack.write_bytes(bytes(damaged))

    source = await install(http, [cdn.running.url], game_dir, new)

    assert_release(game_dir, new)
    assert source.fetched_bytes > plan_update(old, new).fetched_bytes


async def test_a_node_answering_a_range_with_the_whole_chunk_is_skipped(
    cdn: Cdn, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    files = {"a.pak": (random_bytes(300_000, 9), 0o644)}
    manifest = cdn.publish(files, 1, parts=True)
    chunk = next(c for c in manifest.files[0].chunks if len(c.parts) >= 3)
    whole = files["a.pak"][0][chunk.offset : chunk.offset + chunk.size]

    async def ignore_range(_: web.Request) -> web.Response:
        return web.Response(body=whole)

    stubborn = web.Application()
    stubborn.router.add_get("/chunks/{sha256}", ignore_range)
    running = await start_app(stubborn)
    try:
        source = HttpChunkSource(http, [running.url, cdn.running.url])
        at = chunk.part_offsets()[1]
        parts = chunk.parts[1:3]
        size = sum(part.size for part in parts)
        request = ChunkRequest(chunk.sha256, size, "a.pak", chunk.offset + at, parts, at)
        assert await source.fetch(request) == whole[at : at + size]
        assert source.failures == 1
    finally:
        await running.stop()


def _without_parts(manifest: ReleaseManifest) -> ReleaseManifest:
    files = tuple(
        replace(file, chunks=tuple(replace(chunk, parts=()) for chunk in file.chunks))
        for file in manifest.files
    )
    return replace(manifest, files=files)
