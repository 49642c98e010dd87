"""Preload and unlock of locked releases: download the sealed chunks before the unlock time,
then, with the key the library hands to owners from that time, build the release from them
through the ordinary update applier (verify, atomic switch) without a second download."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from peerpipe.logs import fields
from signing import ReleaseManifest

from .errors import AgentError
from .library import LibraryClient
from .updater import GameNotInstalled, Latest
from .updates import (
    DirectoryChunkStore,
    FirstAvailable,
    HttpChunkSource,
    SealedChunkSource,
    UpdateApplier,
    installed_manifest,
    preload,
    sealed_requests,
)

log = logging.getLogger("peerpipe.peer.preloader")


class PreloadError(AgentError):
    """A preload or unlock the agent cannot do now."""


class NotLocked(PreloadError):
    """The latest release has no unlock time: an ordinary update, not a preload."""


class PreloadNotReady(PreloadError):
    """Unlock asked for while no finished preload exists (or one is running)."""


@dataclass(frozen=True)
class PreloadRun:
    """``preloading`` → ``preloaded`` (or ``failed``) → ``unlocked``."""

    state: str
    manifest: ReleaseManifest
    store: DirectoryChunkStore
    total: int
    done: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "release": self.manifest.release,
            "unlock_at": self.manifest.unlock_at,
            "total": self.total,
            "done": self.done,
            "error": self.error,
        }


def preload_dir(game_dir: Path, release: int) -> Path:
    return game_dir / f".preload-{release}"


class Preloader:
    """Preloads of the games under ``install_dir()``; ``start()`` before use."""

    def __init__(
        self,
        install_dir: Callable[[], Path],
        latest: Latest,
        cdn_urls: tuple[str, ...],
        library_url: str,
        user_token: str,
    ) -> None:
        self._install_dir = install_dir
        self._latest = latest
        self._cdn_urls = cdn_urls
        self._library_url = library_url
        self._user_token = user_token
        self._http: aiohttp.ClientSession | None = None
        self._runs: dict[str, PreloadRun] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("preloader is not started")
        return self._http

    def _game_dir(self, game_id: str) -> Path:
        return self._install_dir() / game_id

    def _cdn(self) -> HttpChunkSource:
        return HttpChunkSource(self._session(), self._cdn_urls)

    def status(self, game_id: str) -> dict[str, Any]:
        run = self._runs.get(game_id)
        if run is None:
            return {"game_id": game_id, "state": "none", "release": None, "unlock_at": None,
                    "total": 0, "done": 0, "error": None}  # fmt: skip
        return {"game_id": game_id, **run.to_json()}

    async def start_preload(self, game_id: str) -> PreloadRun:
        """Fetch the signed latest release and download its sealed chunks in the background."""
        task = self._tasks.get(game_id)
        if task is not None and not task.done():
            return self._runs[game_id]
        game_dir = self._game_dir(game_id)
        installed = await asyncio.to_thread(installed_manifest, game_dir)
        if installed is None:
            raise GameNotInstalled(f"{game_id} is not installed")
        manifest, _ = await self._latest(game_id)
        if manifest.unlock_at is None:
            raise NotLocked(f"release {manifest.release} of {game_id} is not a preload")
        requests = sealed_requests(installed, manifest)
        store = DirectoryChunkStore(preload_dir(game_dir, manifest.release))
        run = PreloadRun("preloading", manifest, store, len(requests))
        self._runs[game_id] = run
        self._tasks[game_id] = asyncio.create_task(
            self._preload(game_id, installed, manifest), name=f"preload-{game_id}"
        )
        return run

    async def _preload(
        self, game_id: str, installed: ReleaseManifest, manifest: ReleaseManifest
    ) -> None:
        run = self._runs[game_id]
        try:
            fetched = await preload(installed, manifest, self._cdn(), run.store)
        except (AgentError, OSError, ValueError) as exc:
            log.warning("preload failed", extra=fields(game_id=game_id, error=str(exc)))
            self._runs[game_id] = replace(run, state="failed", error=str(exc))
            return
        log.info(
            "preloaded",
            extra=fields(game_id=game_id, release=manifest.release, fetched_bytes=fetched),
        )
        self._runs[game_id] = replace(run, state="preloaded", done=run.total)

    async def unlock(self, game_id: str) -> dict[str, Any]:
        """Get the key from the library, build and switch to the release, drop the store."""
        run = self._runs.get(game_id)
        if run is None or run.state != "preloaded":
            state = run.state if run else "none"
            raise PreloadNotReady(f"no finished preload of {game_id} (state {state})")
        manifest = run.manifest
        library = LibraryClient(self._session(), self._library_url, self._user_token)
        key = await library.release_key(game_id, manifest.release)
        source = SealedChunkSource(FirstAvailable([run.store, self._cdn()]), manifest, key)
        result = await UpdateApplier(source).apply(self._game_dir(game_id), manifest)
        await asyncio.to_thread(shutil.rmtree, run.store.root, True)
        self._runs[game_id] = replace(run, state="unlocked")
        log.info("release unlocked", extra=fields(game_id=game_id, release=manifest.release))
        return {
            "game_id": game_id,
            "release": manifest.release,
            "state": "unlocked",
            # built from the preloaded sealed chunks (opened here), not downloaded again
            "opened_bytes": result.fetched_bytes,
            "reused_bytes": result.reused_bytes,
        }
