"""What the agent needs from a verified release manifest.

The concrete type is ``signing.ReleaseManifest``; the agent depends only on these read-only
attributes so that the install pipeline can be driven by any verified source of manifests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol


class ManifestEntry(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...


class ManifestTorrent(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def info_hash_v1(self) -> str: ...
    @property
    def info_hash_v2(self) -> str: ...
    @property
    def data(self) -> bytes: ...


class Manifest(Protocol):
    @property
    def game_id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def release(self) -> int: ...
    @property
    def total_size(self) -> int: ...
    @property
    def files(self) -> Sequence[ManifestEntry]: ...
    @property
    def torrent(self) -> ManifestTorrent: ...


ReleaseSource = Callable[[str, int | None], Awaitable[Manifest]]
"""Fetches the verified manifest of ``(game_id, release or None for the latest)``."""
