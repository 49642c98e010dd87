"""What a delta update transfers and how long it takes, against what actually changed.

A generated game (pack files made of incompressible "assets", small files) and a patch of it:
asset replacements, insertions and deletions inside pack files, small in-place edits, a
renamed pack, new files and removed files. The generator records the bytes a perfect delta
would need (``changed``: inserted and rewritten bytes, new files; renames, moves and
deletions cost nothing). In the same run:

- ``transferred``: what our plan fetches (seeder FastCDC chunking, 1 MiB average, chunks
  matched by SHA-256 across every installed file, and inside a missing chunk only the
  64 KiB-average parts the disk lacks, as byte ranges of the chunk);
- ``whole_chunks_only``: the same plan without parts (every missing chunk fetched whole), the
  figure before parts were published;
- ``fixed_1mib``: fixed 1 MiB chunks per file matched by SHA-256 (Steam-style depots);
- ``whole_file``: every file whose SHA-256 is new, in full (renames free);
- the update applied from a local CDN node (the real seeder app on loopback) against a full
  install of the new release through the same chunk path; ``cdn_path_measured_over_changed``
  is the bytes that update really fetched over HTTP;
- the swarm path (``swarm_path``): the same update with the agent's swarm source first, a
  libtorrent seeder of the new release found through a loopback announce endpoint and the
  CDN node behind it. BitTorrent moves whole pieces (the release's torrent as the publish
  pipeline makes it, 256 KiB to 4 MiB pieces, files piece-aligned), so its bytes exceed the
  missing chunks: ``swarm_pieces_over_changed`` is the computed figure for the whole patch,
  ``measured_over_changed`` the payload the swarm really sent plus the CDN's share.

The same figures for three separate patches (small scattered edits only, asset changes
only, new/renamed/removed files only) show where the overhead comes from. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import libtorrent as lt
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support.delta_game import FULL, KIB, MIB, QUICK, Patch, Shape, make_game, make_patch

from peer.swarm import Swarms
from peer.updates import (
    FetchChunk,
    FetchRange,
    HttpChunkSource,
    PieceMap,
    SwarmAccess,
    UpdateApplier,
    UpdatePlan,
    plan_update,
    update_sources,
)
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from peerpipe.torrent_session import session_settings
from seeder import create_app
from seeder.build import scan_build
from seeder.chunking import DEFAULT_PARAMS, PART_PARAMS, ChunkParams, FileDigest, chunk_stream
from seeder.origin import LocalOrigin
from seeder.torrent import create_release_torrent
from signing import ManifestFile, ReleaseManifest, TorrentRef

GAME = "bench-game"


class Chunker:
    """FastCDC chunk lists (with parts, as the seeder publishes them), cached per file content
    so unchanged files are chunked once."""

    def __init__(self, params: ChunkParams, part_params: ChunkParams | None = PART_PARAMS) -> None:
        self.params = params
        self.part_params = part_params
        self._cache: dict[bytes, FileDigest] = {}

    def digest(self, data: bytes) -> FileDigest:
        key = hashlib.blake2b(data, digest_size=16).digest()
        if key not in self._cache:
            self._cache[key] = chunk_stream(io.BytesIO(data), self.params, self.part_params)
        return self._cache[key]

    def manifest(
        self, files: dict[str, bytes], release: int, parts: bool = True
    ) -> ReleaseManifest:
        entries = []
        for path, data in files.items():
            digest = self.digest(data)
            chunks = digest.chunks if parts else tuple(replace(c, parts=()) for c in digest.chunks)
            entries.append(ManifestFile(path, len(data), 0o644, digest.sha256, chunks))
        return ReleaseManifest(
            game_id=GAME,
            version=f"1.{release}",
            release=release,
            created="2026-11-23T00:00:00+00:00",
            total_size=sum(len(data) for data in files.values()),
            files=tuple(entries),
            torrent=TorrentRef(str(release), 16384, "0" * 40, "0" * 64, b"de"),
        )


def fixed_chunk_transfer(old: dict[str, bytes], new: dict[str, bytes], size: int) -> int:
    def blocks(data: bytes) -> list[bytes]:
        return [data[at : at + size] for at in range(0, len(data), size)]

    have = {hashlib.sha256(b).digest() for data in old.values() for b in blocks(data)}
    sent = 0
    for data in new.values():
        for block in blocks(data):
            digest = hashlib.sha256(block).digest()
            if digest not in have:
                have.add(digest)
                sent += len(block)
    return sent


def whole_file_transfer(old: dict[str, bytes], new: dict[str, bytes]) -> int:
    have = {hashlib.sha256(data).digest() for data in old.values()}
    return sum(len(d) for d in new.values() if hashlib.sha256(d).digest() not in have)


def transfer_figures(
    chunker: Chunker, old: dict[str, bytes], patch: Patch
) -> dict[str, float | int | dict[str, int]]:
    new = patch.game.files()
    plan = plan_update(chunker.manifest(old, 1), chunker.manifest(new, 2))
    whole_chunks = plan_update(chunker.manifest(old, 1, False), chunker.manifest(new, 2, False))
    changed = patch.changed
    return {
        "changed_bytes": changed,
        "transferred_bytes": plan.fetched_bytes,
        "transferred_over_changed": round(plan.fetched_bytes / changed, 3),
        "fetches": plan.fetch_count,
        "range_fetches": plan.range_count,
        "whole_chunks_only_bytes": whole_chunks.fetched_bytes,
        "whole_chunks_only_over_changed": round(whole_chunks.fetched_bytes / changed, 3),
        "fixed_1mib_over_changed": round(fixed_chunk_transfer(old, new, MIB) / changed, 3),
        "whole_file_over_changed": round(whole_file_transfer(old, new) / changed, 3),
        "edits": patch.counts,
    }


async def time_apply(cdn_url: str, game_dir: Path, manifest: ReleaseManifest) -> tuple[float, int]:
    async with aiohttp.ClientSession() as http:
        source = HttpChunkSource(http, [cdn_url])
        started = time.perf_counter()
        await UpdateApplier(source).apply(game_dir, manifest)
        return time.perf_counter() - started, source.fetched_bytes


def fill_origin(origin_dir: Path, releases: list[tuple[dict[str, bytes], ReleaseManifest]]) -> None:
    origin = LocalOrigin(origin_dir)
    for files, manifest in releases:
        for entry in manifest.files:
            for chunk in entry.chunks:
                data = files[entry.path][chunk.offset : chunk.offset + chunk.size]
                origin.put_chunk(chunk.sha256, data)


async def time_update(
    workdir: Path, chunker: Chunker, old: dict[str, bytes], new: dict[str, bytes], rate: int
) -> dict[str, float]:
    """Update vs full install from one CDN node serving at ``rate`` bytes/s (0: loopback)."""
    base = Config().with_data_dir(workdir / "cdn")
    config = replace(base, seeder=replace(base.seeder, http_rate_limit=rate))
    old_manifest, new_manifest = chunker.manifest(old, 1), chunker.manifest(new, 2)
    if not config.seeder.origin_dir.exists():
        fill_origin(config.seeder.origin_dir, [(old, old_manifest), (new, new_manifest)])
    games = workdir / f"games-{rate}"
    node = await start_app(create_app(config, seed=False))
    try:
        await time_apply(node.url, games / "updated", old_manifest)
        update_seconds, update_bytes = await time_apply(node.url, games / "updated", new_manifest)
        full_seconds, full_bytes = await time_apply(node.url, games / "fresh", new_manifest)
    finally:
        await node.stop()
        shutil.rmtree(games, ignore_errors=True)
    return {
        "update_seconds": round(update_seconds, 3),
        "full_install_seconds": round(full_seconds, 3),
        "update_fetched_bytes": update_bytes,
        "full_install_fetched_bytes": full_bytes,
        "update_time_over_full_install": round(update_seconds / full_seconds, 3),
    }


def swarm_piece_bytes(plan: UpdatePlan, pieces: PieceMap) -> int:
    """The file bytes of every piece holding a range the plan fetches (each piece once):
    what the swarm would send if peers served every missing byte."""
    wanted: set[int] = set()
    for file in plan.files:
        for op in file.ops:
            if isinstance(op, FetchChunk | FetchRange):
                wanted.update(pieces.pieces(file.path, op.target_offset, op.size))
    return sum(pieces.payload(piece) for piece in wanted)


def torrent_of(root: Path, release: int, files: dict[str, bytes]) -> TorrentRef:
    """The release's torrent as the publish pipeline makes it, over files written to disk."""
    for path, data in files.items():
        (root / str(release) / path).parent.mkdir(parents=True, exist_ok=True)
        (root / str(release) / path).write_bytes(data)
    return create_release_torrent(scan_build(root / str(release)), GAME, release, [], "")


async def announce_endpoint(seeder_port: int) -> RunningApp:
    """A tracker that names one seeder (the swarm's player) to whoever announces."""

    async def announce(_: web.Request) -> web.Response:
        peer = bytes([127, 0, 0, 1]) + seeder_port.to_bytes(2, "big")
        body = b"d8:completei1e10:incompletei0e8:intervali60e5:peers6:" + peer + b"e"
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{passkey}/announce", announce)
    return await start_app(app)


async def swarm_update(
    workdir: Path, chunker: Chunker, old: dict[str, bytes], new: dict[str, bytes], changed: int
) -> dict[str, float | int]:
    """The update with the agent's sources: a player seeding the new release, then the CDN."""
    torrent = torrent_of(workdir / "seed", 2, new)
    old_manifest = chunker.manifest(old, 1)
    new_manifest = replace(chunker.manifest(new, 2), torrent=torrent)
    info = lt.torrent_info(torrent.data)
    planned = swarm_piece_bytes(plan_update(old_manifest, new_manifest), PieceMap(torrent.data))
    seeder = lt.session(lt.session_params(session_settings()))
    params = lt.add_torrent_params()
    params.ti, params.save_path = info, str(workdir / "seed")
    params.flags |= lt.torrent_flags.seed_mode
    seeder.add_torrent(params)
    tracker = await announce_endpoint(int(seeder.listen_port()))
    node = await start_app(create_app(Config().with_data_dir(workdir / "cdn"), seed=False))
    swarms = Swarms()
    game_dir = workdir / "games-swarm"
    try:
        await time_apply(node.url, game_dir, old_manifest)
        async with aiohttp.ClientSession() as http:
            access = SwarmAccess(swarms, f"{tracker.url}/bench/announce")
            sources = update_sources(http, [node.url], new_manifest, game_dir, swarm=access)
            started = time.perf_counter()
            try:
                await UpdateApplier(sources.chunks).apply(game_dir, new_manifest)
            finally:
                await sources.close()
            seconds = time.perf_counter() - started
    finally:
        await asyncio.to_thread(swarms.close)
        await node.stop()
        await tracker.stop()
        del seeder
        shutil.rmtree(game_dir, ignore_errors=True)
    transferred = sources.peer_bytes + sources.cdn_bytes
    return {
        "piece_length": torrent.piece_length,
        "swarm_pieces_bytes": planned,
        "swarm_pieces_over_changed": round(planned / changed, 3),
        "peer_bytes": sources.peer_bytes,
        "peer_chunk_bytes": sources.peer_chunk_bytes,
        "cdn_bytes": sources.cdn_bytes,
        "measured_over_changed": round(transferred / changed, 3),
        "update_seconds": round(seconds, 3),
    }


def run(shape: Shape, workdir: Path, rate_mib: int) -> dict[str, object]:
    game = make_game(shape, random.Random(1))
    old = game.files()
    chunker = Chunker(DEFAULT_PARAMS)
    started = time.perf_counter()
    patch = make_patch(game, shape, seed=2, kinds={"assets", "small", "files"})
    main = transfer_figures(chunker, old, patch)
    chunking_seconds = time.perf_counter() - started
    scenarios = {
        name: transfer_figures(chunker, old, make_patch(game, shape, seed=2, kinds=kinds))
        for name, kinds in (
            ("small_edits_only", {"small"}),
            ("asset_changes_only", {"assets"}),
            ("file_changes_only", {"files"}),
        )
    }
    sweep = {
        f"avg_{params.avg_size // KIB}kib": transfer_figures(Chunker(params, None), old, patch)[
            "transferred_over_changed"
        ]
        for params in (
            ChunkParams(avg_size=256 * KIB, min_size=64 * KIB, max_size=1 * MIB),
            ChunkParams(avg_size=64 * KIB, min_size=16 * KIB, max_size=256 * KIB),
        )
    }
    new = patch.game.files()
    timing = asyncio.run(time_update(workdir, chunker, old, new, 0))
    limited = asyncio.run(time_update(workdir, chunker, old, new, rate_mib * MIB))
    swarm = asyncio.run(swarm_update(workdir, chunker, old, new, patch.changed))
    return {
        "game_bytes": sum(len(d) for d in old.values()),
        "patched_bytes": sum(len(d) for d in patch.game.files().values()),
        **main,
        **timing,
        "cdn_path_measured_over_changed": round(timing["update_fetched_bytes"] / patch.changed, 3),
        "swarm_path": swarm,
        f"at_{rate_mib}mib_per_s": limited,
        "chunking_and_planning_seconds": round(chunking_seconds, 3),
        "scenarios": scenarios,
        "transferred_over_changed_by_cdc_average": sweep,
        "goal_transferred_over_changed": 1.25,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~160 MiB game instead of ~1 GiB")
    parser.add_argument(
        "--rate-mib",
        type=int,
        default=50,
        help="the CDN node's serving limit for the second timing, in MiB/s (a real link)",
    )
    args = parser.parse_args()
    shape = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="peerpipe-delta-"))
    try:
        result = run(shape, workdir, args.rate_mib)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"bench": "delta", "quick": args.quick, **result}))


if __name__ == "__main__":
    main()
