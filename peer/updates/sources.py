"""The chunk sources of one update, in the order they are asked: the new release's swarm
(other players), then the CDN; for a locked release, the swarm (players who unlocked it
seed plaintext), then the preloaded sealed chunks and the CDN's sealed copies, opened with
the release key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from signing import ReleaseManifest

from .chunk_source import ChunkSource, FirstAvailable, HttpChunkSource
from .pacing import RatePacer
from .sealed import DirectoryChunkStore, SealedChunkSource, preload_dir
from .swarm_source import SwarmAccess, SwarmChunkSource, SwarmPatience, swarm_scratch_dir


@dataclass
class UpdateSources:
    chunks: ChunkSource
    cdn: HttpChunkSource
    swarm: SwarmChunkSource | None = None

    @property
    def peer_bytes(self) -> int:
        """Payload bytes other players sent (whole BitTorrent pieces)."""
        return self.swarm.peer_bytes if self.swarm is not None else 0

    @property
    def peer_chunk_bytes(self) -> int:
        """Of those, the chunk bytes the update used."""
        return self.swarm.delivered_bytes if self.swarm is not None else 0

    @property
    def cdn_bytes(self) -> int:
        return self.cdn.fetched_bytes

    async def close(self) -> None:
        if self.swarm is not None:
            await self.swarm.close()


def update_sources(
    http: aiohttp.ClientSession,
    cdn_urls: Sequence[str],
    manifest: ReleaseManifest,
    game_dir: Path,
    *,
    swarm: SwarmAccess | None = None,
    key: bytes | None = None,
    patience: SwarmPatience | None = None,
    pacer: RatePacer | None = None,
) -> UpdateSources:
    """Sources for updating ``game_dir`` to ``manifest``; ``key`` opens a locked release;
    ``pacer`` holds CDN fetches to the player's download limit."""
    cdn = HttpChunkSource(http, cdn_urls, pacer=pacer)
    preload = DirectoryChunkStore(preload_dir(game_dir, manifest.release))
    chain: list[ChunkSource] = []
    swarm_source = None
    if swarm is not None:
        scratch = swarm_scratch_dir(game_dir, manifest.release)
        local = preloaded_chunks(manifest, preload) if key is not None else frozenset()
        swarm_source = SwarmChunkSource(
            swarm.session, manifest, scratch, swarm.announce_url, patience, local
        )
        chain.append(swarm_source)
    if key is None:
        chain.append(cdn)
    else:
        chain.append(SealedChunkSource(FirstAvailable([preload, cdn]), manifest, key))
    return UpdateSources(FirstAvailable(chain), cdn, swarm_source)


def preloaded_chunks(manifest: ReleaseManifest, store: DirectoryChunkStore) -> frozenset[str]:
    """The chunks of a locked release whose sealed copies a preload holds (blocking: a
    ``stat`` per sealed chunk)."""
    return frozenset(
        chunk.sha256
        for entry in manifest.files
        for chunk in entry.chunks
        if chunk.sealed is not None and store.path(chunk.sealed.sha256).is_file()
    )
