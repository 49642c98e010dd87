"""Locked (preloaded) releases: their new chunks travel sealed and are opened with the
release key once the library API hands it over (owners only, from the unlock time).

- :func:`sealed_requests`: the sealed chunks an agent downloads before the unlock time (the
  chunks the installed release lacks, each once, by the sealed copy's SHA-256);
- :class:`DirectoryChunkStore`: where a preload keeps them, and a chunk source over them;
- :class:`SealedChunkSource`: wraps any chunk source that delivers sealed copies (the
  preload directory, then the CDN) and returns opened, SHA-256-checked plaintext, so the
  ordinary applier builds, verifies and switches the release without a second download.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from signing import ReleaseManifest, SealedRef
from signing.manifest import HEX64
from signing.sealing import SealError, key_matches, open_chunk

from .chunk_source import ChunkRequest, ChunkSource, chunk_matches
from .errors import ChunkUnavailable, WrongReleaseKey
from .plan import FetchChunk, FetchRange, plan_update

_OPENED_CACHE = 4  # opened chunks kept for the next range of the same chunk


PRELOAD_PREFIX = ".preload-"


def preload_dir(game_dir: Path, release: int) -> Path:
    """Where a preload keeps the sealed chunks of ``release`` until it unlocks."""
    return game_dir / f"{PRELOAD_PREFIX}{int(release)}"


def sealed_requests(
    installed: ReleaseManifest | None, locked: ReleaseManifest
) -> list[ChunkRequest]:
    """Requests for the sealed copies of the chunks an update to ``locked`` must fetch."""
    sealed = {c.sha256: (f.path, c) for f in locked.files for c in f.chunks if c.sealed}
    wanted: dict[str, ChunkRequest] = {}
    for op in plan_update(installed, locked).ops():
        if isinstance(op, FetchChunk | FetchRange) and op.sha256 in sealed:
            path, chunk = sealed[op.sha256]
            assert chunk.sealed is not None
            wanted.setdefault(
                chunk.sealed.sha256,
                ChunkRequest(chunk.sealed.sha256, chunk.sealed.size, path, chunk.offset),
            )
    return list(wanted.values())


class DirectoryChunkStore:
    """Chunks kept in a directory by SHA-256 (a preload's sealed copies)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not HEX64.fullmatch(sha256):
            raise ValueError(f"not a chunk id: {sha256!r}")
        return self.root / sha256

    def has(self, request: ChunkRequest) -> bool:
        path = self.path(request.sha256)
        return path.is_file() and path.stat().st_size == request.size

    def put(self, request: ChunkRequest, data: bytes) -> None:
        """Store checked bytes durably (write, fsync, rename: never a torn chunk)."""
        if not chunk_matches(data, request):
            raise ChunkUnavailable(f"chunk {request.sha256} does not match its SHA-256")
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(request.sha256)
        temporary = target.with_suffix(".part")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    async def fetch(self, request: ChunkRequest) -> bytes:
        try:
            data = await asyncio.to_thread(self.path(request.sha256).read_bytes)
        except OSError:
            raise ChunkUnavailable(f"chunk {request.sha256} is not in {self.root}") from None
        if request.is_range:
            data = data[request.chunk_offset : request.chunk_offset + request.size]
        if not chunk_matches(data, request):
            raise ChunkUnavailable(f"chunk {request.sha256} in {self.root} is damaged")
        return data


async def preload(
    installed: ReleaseManifest | None,
    locked: ReleaseManifest,
    source: ChunkSource,
    store: DirectoryChunkStore,
    stored: Callable[[int], None] | None = None,
) -> int:
    """Download the sealed chunks an update to ``locked`` needs; returns the bytes fetched.
    Safe to interrupt and run again: chunks already stored are skipped. ``stored`` is told
    how many of the chunks are on disk, first before any download, then after each one."""
    requests = sealed_requests(installed, locked)
    have = await asyncio.to_thread(lambda: {r.sha256 for r in requests if store.has(r)})
    if stored is not None:
        stored(len(have))
    fetched = 0
    for request in requests:
        if request.sha256 in have:
            continue
        data = await source.fetch(request)
        await asyncio.to_thread(store.put, request, data)
        fetched += len(data)
        have.add(request.sha256)
        if stored is not None:
            stored(len(have))
    return fetched


class SealedChunkSource:
    """Plaintext chunks of a locked release, opened from sealed copies ``inner`` delivers;
    chunks the release does not seal (published in the clear before) come from ``inner``."""

    def __init__(self, inner: ChunkSource, manifest: ReleaseManifest, key: bytes) -> None:
        if manifest.key_check is None or not key_matches(key, manifest.key_check):
            raise WrongReleaseKey(
                f"the key does not open release {manifest.release} of {manifest.game_id}"
            )
        self._inner = inner
        self._manifest = manifest
        self._key = key
        self._sealed: dict[str, SealedRef] = {
            chunk.sha256: chunk.sealed
            for entry in manifest.files
            for chunk in entry.chunks
            if chunk.sealed is not None
        }
        self._opened: OrderedDict[str, bytes] = OrderedDict()

    async def fetch(self, request: ChunkRequest) -> bytes:
        sealed = self._sealed.get(request.sha256)
        if sealed is None:
            return await self._inner.fetch(request)
        plaintext = self._opened.get(request.sha256)
        if plaintext is None:
            plaintext = await self._open(request, sealed)
        if request.is_range:
            data = plaintext[request.chunk_offset : request.chunk_offset + request.size]
        else:
            data = plaintext
        if not chunk_matches(data, request):
            raise ChunkUnavailable(f"opened chunk {request.sha256} does not match the request")
        return data

    async def _open(self, request: ChunkRequest, sealed: SealedRef) -> bytes:
        data = await self._inner.fetch(
            ChunkRequest(sealed.sha256, sealed.size, request.path, request.offset)
        )
        manifest = self._manifest
        try:
            plaintext = await asyncio.to_thread(
                open_chunk, self._key, manifest.game_id, manifest.release, request.sha256, data
            )
        except SealError as exc:
            raise ChunkUnavailable(str(exc)) from None
        self._opened[request.sha256] = plaintext
        while len(self._opened) > _OPENED_CACHE:
            self._opened.popitem(last=False)
        return plaintext
