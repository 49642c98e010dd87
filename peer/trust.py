"""Verified release manifests from the CDN's trust metadata (``signing.TrustClient``)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from peerpipe.config import AgentConfig
from peerpipe.logs import fields
from signing import ReleaseManifest, ReleasePointer, TrustClient, TrustError

from .errors import ReleaseUnavailable
from .release import Manifest

log = logging.getLogger("peerpipe.peer.trust")
T = TypeVar("T")


class TrustedReleases:
    """A ``ReleaseSource`` that trusts only the pinned root and its signed successors.

    CDN nodes are mirrors: each is tried in turn. When none yields a verified manifest the
    error names the first trust failure (the attack) rather than a later network error.
    """

    def __init__(self, agent: AgentConfig) -> None:
        self._cdn_urls = agent.cdn_urls
        self._cache_dir = agent.data_dir / "trust"
        self._root_file = agent.trusted_root
        # installs and update checks share the metadata cache: one refresh at a time
        self._lock = threading.Lock()

    async def __call__(self, game_id: str, release: int | None) -> Manifest:
        def fetch(client: TrustClient) -> Manifest:
            manifest: Manifest = client.fetch_release(game_id, release)
            return manifest

        return await self._from_mirrors(game_id, fetch)

    async def latest(self, game_id: str) -> tuple[ReleaseManifest, ReleasePointer]:
        """The verified latest manifest with its signed pointer (critical flag, changelog)."""
        return await self._from_mirrors(game_id, lambda client: client.fetch_latest(game_id))

    async def _from_mirrors(self, game_id: str, fetch: Callable[[TrustClient], T]) -> T:
        root = await asyncio.to_thread(self._trusted_root)
        trust_failure: str | None = None
        other_failure: str | None = None
        for cdn in self._cdn_urls:
            try:
                return await asyncio.to_thread(self._fetch, cdn, root, fetch)
            except TrustError as exc:
                log.warning(
                    "release refused", extra=fields(cdn=cdn, game_id=game_id, error=str(exc))
                )
                trust_failure = trust_failure or f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a mirror failing in any other way: try the next one
                log.warning("CDN trust fetch failed", extra=fields(cdn=cdn, error=str(exc)))
                other_failure = other_failure or f"{cdn}: {exc}"
        raise ReleaseUnavailable(
            f"no trusted manifest for {game_id}: {trust_failure or other_failure or 'no CDN'}"
        )

    def _trusted_root(self) -> bytes:
        if self._root_file is None:
            raise ReleaseUnavailable("no trusted root configured (set PEERPIPE_TRUSTED_ROOT)")
        try:
            return Path(self._root_file).read_bytes()
        except OSError as exc:
            raise ReleaseUnavailable(f"cannot read trusted root {self._root_file}: {exc}") from None

    def _fetch(self, cdn: str, root: bytes, fetch: Callable[[TrustClient], T]) -> T:
        with self._lock:
            return fetch(self._client(cdn, root))

    def _client(self, cdn: str, root: bytes) -> TrustClient:
        base = cdn.rstrip("/")
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        return TrustClient(
            metadata_url=f"{base}/metadata/",
            targets_url=f"{base}/targets/",
            cache_dir=self._cache_dir,
            trusted_root=root,
        )
