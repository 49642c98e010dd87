"""Preload and unlock of locked releases: download the sealed chunks before the unlock time,
then, with the key the library hands to owners from that time, build the release from them
through the updater (swarm, verify, atomic switch, install record) without a second download.

Unlock works without a finished preload too (for a player who never preloaded): whatever
sealed chunks are on disk are used, the rest come from the swarm of players who unlocked
already, or sealed from the CDN.

A preload outlasts the agent (``peer.updates.preloads``): at start the preloader shows every
preload a previous run began, ``preloaded`` or ``preloading`` with what is on disk, and
resumes an unfinished one without fetching again what it holds.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from peerpipe.logs import fields
from signing import ReleaseManifest

from .errors import AgentError
from .updates import (
    DirectoryChunkStore,
    GameNotInstalled,
    UpdateError,
    begin_preload,
    discard_preload,
    game_dirs,
    installed_manifest,
    preload,
    preload_dir,
    restore_preload,
    sealed_requests,
)

if TYPE_CHECKING:
    from .updater import Updater

log = logging.getLogger("peerpipe.peer.preloader")


class PreloadError(AgentError):
    """A preload or unlock the agent cannot do now."""


class NotLocked(PreloadError):
    """The latest release has no unlock time: an ordinary update, not a preload."""


class PreloadNotReady(PreloadError):
    """Unlock asked for while the preload is still downloading."""


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


class Preloader:
    """Preloads of the games the updater looks after."""

    def __init__(self, updater: Updater) -> None:
        self._updater = updater
        self._runs: dict[str, PreloadRun] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def restore(self) -> None:
        """Show the preloads a previous run of the agent began; resume the unfinished ones."""
        for game_dir in await asyncio.to_thread(game_dirs, self._updater.install_dir()):
            game_id = game_dir.name
            try:
                found = await asyncio.to_thread(restore_preload, game_dir)
            except (UpdateError, OSError) as exc:
                log.warning("preload not restored", extra=fields(game_id=game_id, error=str(exc)))
                continue
            if found is None:
                continue
            state = "preloaded" if found.complete else "preloading"
            self._runs[game_id] = PreloadRun(
                state, found.manifest, found.store, len(found.requests), found.stored
            )
            log.info(
                "preload restored",
                extra=fields(
                    game_id=game_id, release=found.manifest.release, state=state,
                    done=found.stored, total=len(found.requests),
                ),
            )  # fmt: skip
            if not found.complete:
                self._start(game_id, found.installed, found.manifest)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def run(self, game_id: str) -> PreloadRun | None:
        return self._runs.get(game_id)

    def status(self, game_id: str) -> dict[str, Any]:
        run = self._runs.get(game_id)
        if run is None:
            return {"game_id": game_id, "state": "none", "release": None, "unlock_at": None,
                    "total": 0, "done": 0, "error": None}  # fmt: skip
        return {"game_id": game_id, **run.to_json()}

    async def start_preload(self, game_id: str) -> PreloadRun:
        """Fetch the signed latest release and download its sealed chunks in the background;
        a preload of that release running or done already is returned as it is."""
        game_dir = self._updater.game_dir(game_id)
        installed = await asyncio.to_thread(installed_manifest, game_dir)
        if installed is None:
            raise GameNotInstalled(f"{game_id} is not installed")
        manifest, _ = await self._updater.latest(game_id)
        if manifest.unlock_at is None:
            raise NotLocked(f"release {manifest.release} of {game_id} is not a preload")
        current = self._runs.get(game_id)
        same = current is not None and current.manifest.release == manifest.release
        if current is not None and same and current.state != "failed":
            return current
        await self._stop(game_id)
        # on disk before the first chunk: a restart from here on shows and resumes it
        await asyncio.to_thread(begin_preload, game_dir, manifest)
        requests = sealed_requests(installed, manifest)
        store = DirectoryChunkStore(preload_dir(game_dir, manifest.release))
        run = PreloadRun("preloading", manifest, store, len(requests))
        self._runs[game_id] = run
        self._start(game_id, installed, manifest)
        return run

    def _start(self, game_id: str, installed: ReleaseManifest, manifest: ReleaseManifest) -> None:
        self._tasks[game_id] = asyncio.create_task(
            self._preload(game_id, installed, manifest), name=f"preload-{game_id}"
        )

    async def _stop(self, game_id: str) -> None:
        task = self._tasks.pop(game_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _preload(
        self, game_id: str, installed: ReleaseManifest, manifest: ReleaseManifest
    ) -> None:
        run = self._runs[game_id]

        def stored(count: int) -> None:
            self._runs[game_id] = replace(self._runs[game_id], done=count)

        try:
            fetched = await preload(installed, manifest, self._updater.cdn(), run.store, stored)
        except (AgentError, OSError, ValueError) as exc:
            log.warning("preload failed", extra=fields(game_id=game_id, error=str(exc)))
            self._runs[game_id] = replace(self._runs[game_id], state="failed", error=str(exc))
            return
        log.info(
            "preloaded",
            extra=fields(game_id=game_id, release=manifest.release, fetched_bytes=fetched),
        )
        self._runs[game_id] = replace(self._runs[game_id], state="preloaded", done=run.total)

    async def release_installed(self, game_id: str, release: int) -> None:
        """The game runs ``release`` now: a preload of it, or of an earlier release, is done
        with (its sealed chunks and its record go)."""
        releases = {release}
        run = self._runs.get(game_id)
        if run is not None and run.state != "unlocked" and run.manifest.release <= release:
            await self._stop(game_id)
            releases.add(run.manifest.release)
            if run.manifest.release == release:
                self._runs[game_id] = replace(run, state="unlocked", done=run.total)
            else:
                del self._runs[game_id]
        game_dir = self._updater.game_dir(game_id)
        for done_with in sorted(releases):
            try:
                await asyncio.to_thread(discard_preload, game_dir, done_with)
            except (UpdateError, OSError) as exc:
                log.warning(
                    "preload not discarded",
                    extra=fields(game_id=game_id, release=done_with, error=str(exc)),
                )

    async def unlock(self, game_id: str) -> dict[str, Any]:
        """Get the key from the library, build and switch to the release, drop the store."""
        run = self._runs.get(game_id)
        if run is not None and run.state == "preloading":
            raise PreloadNotReady(f"the preload of {game_id} is still downloading")
        await self._updater.installed(game_id)
        if run is not None and run.state != "unlocked":
            manifest = run.manifest
        else:
            manifest, _ = await self._updater.latest(game_id)
        if manifest.unlock_at is None:
            raise NotLocked(f"release {manifest.release} of {game_id} is not a preload")
        result = await self._updater.unlock(game_id, manifest)
        log.info("release unlocked", extra=fields(game_id=game_id, release=manifest.release))
        update = self._updater.run_json(game_id)
        return {
            "game_id": game_id,
            "release": manifest.release,
            "state": "unlocked",
            # built from the preloaded sealed chunks (opened here), not downloaded again
            "opened_bytes": result.fetched_bytes,
            "reused_bytes": result.reused_bytes,
            "peer_bytes": update["peer_bytes"] if update else 0,
            "cdn_bytes": update["cdn_bytes"] if update else 0,
        }
