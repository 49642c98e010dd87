"""Builders for the delta-update tests: releases as real bytes, manifests chunked by the
seeder's FastCDC chunker (small sizes so a few hundred KiB make many chunks), a CDN origin."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from peer.updates import ChunkRequest, ChunkUnavailable, verify_release
from peer.updates.chunk_source import chunk_matches
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from seeder import create_app as create_cdn_app
from seeder.chunking import ChunkParams, chunk_stream
from seeder.origin import LocalOrigin
from seeder.preload import SealingOrigin
from signing import ChunkRef, ManifestFile, PartRef, ReleaseManifest, TorrentRef

GAME = "space-miner"
UNLOCK_AT = "2030-01-01T18:00:00+00:00"  # of the locked releases ``lock_release`` makes
SMALL_CHUNKS = ChunkParams(avg_size=16 * 1024, min_size=4 * 1024, max_size=64 * 1024)
# The platform's two levels scaled down 16 times: 64 KiB chunks of 4 KiB parts.
PARTED_CHUNKS = ChunkParams(avg_size=64 * 1024, min_size=16 * 1024, max_size=256 * 1024)
SMALL_PARTS = ChunkParams(avg_size=4 * 1024, min_size=1024, max_size=16 * 1024)

Files = Mapping[str, tuple[bytes, int]]
"""A release as path -> (bytes, permission mode)."""


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def fake_torrent(release: int) -> TorrentRef:
    # The updater never reads the torrent; the manifest only has to be well formed.
    return TorrentRef(str(release), 16384, "0" * 40, "0" * 64, b"de")


def make_manifest(
    files: Files,
    release: int,
    params: ChunkParams = SMALL_CHUNKS,
    game_id: str = GAME,
    part_params: ChunkParams | None = None,
) -> ReleaseManifest:
    entries = []
    for path, (data, mode) in sorted(files.items()):
        digest = chunk_stream(io.BytesIO(data), params, part_params)
        entries.append(ManifestFile(path, len(data), mode, digest.sha256, digest.chunks))
    return manifest_of(entries, release, game_id)


def manifest_of(entries: list[ManifestFile], release: int, game_id: str = GAME) -> ReleaseManifest:
    return ReleaseManifest(
        game_id=game_id,
        version=f"1.{release}",
        release=release,
        created="2026-11-23T00:00:00+00:00",
        total_size=sum(entry.size for entry in entries),
        files=tuple(entries),
        torrent=fake_torrent(release),
    )


def chunk_bytes(files: Files, manifest: ReleaseManifest) -> dict[str, bytes]:
    """Every chunk of a release, by SHA-256."""
    found: dict[str, bytes] = {}
    for entry in manifest.files:
        data = files[entry.path][0]
        for chunk in entry.chunks:
            found[chunk.sha256] = data[chunk.offset : chunk.offset + chunk.size]
    return found


def publish_chunks(origin_dir: Path, files: Files, manifest: ReleaseManifest) -> None:
    origin = LocalOrigin(origin_dir)
    for sha256, data in chunk_bytes(files, manifest).items():
        origin.put_chunk(sha256, data)


def lock_release(
    origin_dir: Path, files: Files, manifest: ReleaseManifest, public: set[str], key: bytes
) -> ReleaseManifest:
    """What ``publish --unlock-at`` stores and signs, through the seeder's own sealing."""
    sealing = SealingOrigin(
        LocalOrigin(origin_dir), key, manifest.game_id, manifest.release, public
    )
    for sha256, data in chunk_bytes(files, manifest).items():
        sealing.put_chunk(sha256, data)
    return sealing.lock(manifest, UNLOCK_AT)


def write_tree(root: Path, files: Files) -> None:
    for path, (data, mode) in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.chmod(target, mode & 0o777)


def assert_release(game_dir: Path, manifest: ReleaseManifest) -> None:
    """The release directory holds exactly the manifest's files (player files aside)."""
    mismatches = verify_release(game_dir / str(manifest.release), manifest.files)
    assert not mismatches, [str(item) for item in mismatches]


@dataclass
class MemoryChunkSource:
    """Chunks held in memory, for driving the applier from property tests."""

    chunks: dict[str, bytes]
    requests: list[ChunkRequest] = field(default_factory=list)

    async def fetch(self, request: ChunkRequest) -> bytes:
        self.requests.append(request)
        data = self.chunks.get(request.sha256)
        if data is None or hashlib.sha256(data).hexdigest() != request.sha256:
            raise ChunkUnavailable(f"no chunk {request.sha256}")
        if request.is_range:
            data = data[request.chunk_offset : request.chunk_offset + request.size]
        if not chunk_matches(data, request):
            raise ChunkUnavailable(f"chunk {request.sha256} does not match the request")
        return data


def refs(data: bytes, cuts: list[int], part_cuts: list[int] | None = None) -> tuple[ChunkRef, ...]:
    """Chunk refs for ``data`` cut at the given offsets; with ``part_cuts`` (file offsets),
    chunks holding a part cut list their parts."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return tuple(
        ChunkRef(hashlib.sha256(data[a:b]).hexdigest(), a, b - a, part_refs(data, a, b, part_cuts))
        for a, b in itertools.pairwise(bounds)
        if b > a
    )


def part_refs(data: bytes, start: int, end: int, cuts: list[int] | None) -> tuple[PartRef, ...]:
    inner = sorted({c for c in cuts or () if start < c < end})
    if not inner:
        return ()
    bounds = [start, *inner, end]
    return tuple(
        PartRef(hashlib.sha256(data[a:b]).hexdigest(), b - a) for a, b in itertools.pairwise(bounds)
    )


async def start_cdn(base: Path) -> tuple[RunningApp, Path]:
    """The real seeder CDN node (no BitTorrent seeding) over an empty origin under ``base``."""
    config = Config().with_data_dir(base)
    running = await start_app(create_cdn_app(config, seed=False))
    return running, config.seeder.origin_dir


def patched_game(seed: int = 10, pack_size: int = 600_000) -> tuple[Files, Files]:
    """A release and its patch: insertions, a deletion and edits inside a large pack file, a
    renamed file, a new file, a removed file, a permission change and an unchanged file."""
    pack = random_bytes(pack_size, seed)
    third = pack_size // 3
    patched_pack = (
        pack[:1000]
        + random_bytes(3000, seed + 1)  # inserted
        + pack[1000:third]
        + pack[third + 5000 : 2 * third]  # 5000 bytes deleted
        + random_bytes(700, seed + 2)  # overwritten in place
        + pack[2 * third + 700 :]
        + random_bytes(2000, seed + 3)  # appended
    )
    level = random_bytes(150_000, seed + 4)
    old: Files = {
        "data/main.pak": (pack, 0o644),
        "data/level1.pak": (level, 0o644),
        "bin/game": (random_bytes(40_000, seed + 5), 0o644),
        "docs/old-notes.txt": (b"obsolete", 0o644),
        "readme.txt": (b"hello", 0o644),
    }
    new: Files = {
        "data/main.pak": (patched_pack, 0o644),
        "data/levels/level1-renamed.pak": (level, 0o644),
        "bin/game": (old["bin/game"][0], 0o755),
        "data/new-dlc.pak": (random_bytes(50_000, seed + 6), 0o644),
        "readme.txt": (b"hello", 0o644),
        "empty.cfg": (b"", 0o600),
    }
    return old, new


def same_inode(first: Path, second: Path) -> bool:
    """Whether two names are one file (a hard-linked save, not a copy)."""
    return os.path.samefile(first, second)
