"""The agent's side of delta updates: check a game against its signed latest release, apply
the update in the background, roll back, and say whether a game may launch.

The update machinery itself (planning, staging, the atomic switch, recovery, the chunk
sources) lives in ``peer.updates``; this module keeps what the API shows between calls: the
last check of each game and the state of its running or finished update. Missing chunks come
from the new release's swarm first (the engine's libtorrent session, through the tracker),
then from the CDN. A release still locked (published with an unlock time still to come) is
preloaded instead of installed; once its unlock time has passed, updating to it fetches the
release key from the library and opens the sealed chunks.

After every switch (update, unlock, rollback) the engine's install record and seeding follow
the release the game now runs (``peer.install_records``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from peerpipe.logs import fields
from signing import ReleaseManifest, ReleasePointer

from .errors import AgentError
from .install_records import InstallRecords
from .library import LibraryClient
from .preloader import Preloader
from .update_run import UpdateRun, with_preload
from .updates import (
    GameNotInstalled,
    HttpChunkSource,
    InstalledGame,
    RatePacer,
    RecoveryAction,
    UpdateApplier,
    UpdateCheck,
    UpdateError,
    UpdateInProgress,
    UpdateProgress,
    UpdateResult,
    UpdateSources,
    check_update,
    discard_swarm_scratch,
    game_dirs,
    installed_games,
    load_manifest,
    recover_all,
    rollback,
    update_sources,
)
from .updates.layout import CurrentRelease

__all__ = ["GameNotInstalled", "Latest", "UpdateRun", "Updater"]

log = logging.getLogger("peerpipe.peer.updater")

Latest = Callable[[str], Awaitable[tuple[ReleaseManifest, ReleasePointer]]]
"""Fetches a game's verified latest manifest and its signed pointer."""

Clock = Callable[[], datetime]


class Updater:
    """Update state of the games under ``install_dir()``; ``start()`` before use.

    ``installs`` links the updater to the engine (swarm downloads, install records); without
    it updates use the CDN alone. ``preloader`` handles releases still locked."""

    def __init__(
        self,
        install_dir: Callable[[], Path],
        latest: Latest,
        cdn_urls: tuple[str, ...],
        *,
        library_url: str = "",
        user_token: str = "",
        installs: InstallRecords | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        download_limit: Callable[[], int] = lambda: 0,
    ) -> None:
        self._install_dir = install_dir
        self.latest = latest
        self._cdn_urls = cdn_urls
        self._library_url = library_url
        self._user_token = user_token
        self._installs = installs
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._checks: dict[str, UpdateCheck] = {}
        self._latest_seen: dict[str, tuple[ReleaseManifest, ReleasePointer]] = {}
        self._runs: dict[str, UpdateRun] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._startup_check: asyncio.Task[None] | None = None
        # one bucket for every chunk fetched from CDN nodes: updates and preloads together
        # keep to the player's download limit (``download_limit()``: bytes/s now, 0: none)
        self.pacer = RatePacer(download_limit)
        self.preloader = Preloader(self)

    async def start(self) -> None:
        # no bound on a whole request: a chunk paced to a low limit may take minutes; a node
        # that stops sending is caught by the read timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
        self._http = aiohttp.ClientSession(timeout=timeout)
        install_dir = self._install_dir()
        recovered = await asyncio.to_thread(recover_all, install_dir)
        for game_id, recovery in recovered.items():
            if recovery.action is RecoveryAction.NOTHING:
                continue
            log.info(
                "update state recovered",
                extra=fields(
                    game_id=game_id,
                    action=str(recovery.action),
                    release=recovery.current.release if recovery.current else None,
                    pending_release=recovery.pending_release,
                ),
            )
        await asyncio.to_thread(_discard_scratch, install_dir)
        await self._reconcile_records()
        await self.preloader.restore()  # after recovery: an unlock cut short may have finished
        # a critical release published while the agent was off must block launches again
        self._startup_check = asyncio.create_task(self._check_all(), name="update-check")

    async def _reconcile_records(self) -> None:
        if self._installs is None:
            return
        for game in await asyncio.to_thread(installed_games, self._install_dir()):
            try:
                manifest = await asyncio.to_thread(
                    load_manifest, self.game_dir(game.game_id), game.release
                )
                await self._installs.reconcile(game.game_id, manifest)
            except (AgentError, OSError, RuntimeError) as exc:
                log.warning(
                    "install record not reconciled",
                    extra=fields(game_id=game.game_id, error=str(exc)),
                )

    async def _check_all(self) -> None:
        for game in await asyncio.to_thread(installed_games, self._install_dir()):
            try:
                await self.check(game.game_id)
            except (AgentError, OSError, ValueError) as exc:
                log.warning(
                    "update check failed", extra=fields(game_id=game.game_id, error=str(exc))
                )

    async def close(self) -> None:
        await self.preloader.close()
        tasks = [*self._tasks.values(), *([self._startup_check] if self._startup_check else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._installs is not None:
            await self._installs.close()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def install_dir(self) -> Path:
        return self._install_dir()

    def game_dir(self, game_id: str) -> Path:
        return self._install_dir() / game_id

    def session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("updater is not started")
        return self._http

    def cdn(self) -> HttpChunkSource:
        return HttpChunkSource(self.session(), self._cdn_urls, pacer=self.pacer)

    def now(self) -> datetime:
        return self._clock()

    def run_json(self, game_id: str) -> dict[str, Any] | None:
        run = self._runs.get(game_id)
        return run.to_json() if run is not None else None

    # reading

    async def overview(self) -> list[dict[str, Any]]:
        games = await asyncio.to_thread(installed_games, self._install_dir())
        return [self._status(game) for game in games]

    async def status(self, game_id: str) -> dict[str, Any]:
        return self._status(await self.installed(game_id))

    def _status(self, game: InstalledGame) -> dict[str, Any]:
        check = self._checks.get(game.game_id)
        run = with_preload(self._runs.get(game.game_id), self.preloader.run(game.game_id))
        must_update = check.must_update if check is not None else False
        return {
            **game.to_json(),
            "latest_release": check.latest_release if check else None,
            "update_available": check.available if check else None,
            "critical": check.critical if check else False,
            "must_update": must_update,
            "launchable": not must_update,
            "last_check": check.to_json() if check else None,
            "update": run.to_json() if run else None,
        }

    async def installed(self, game_id: str) -> InstalledGame:
        games = await asyncio.to_thread(installed_games, self._install_dir())
        for game in games:
            if game.game_id == game_id:
                return game
        raise GameNotInstalled(f"{game_id} is not installed (or was installed before updates)")

    # writing

    async def check(self, game_id: str) -> UpdateCheck:
        """Fetch the signed latest release and compare it with the installed one."""
        await self.installed(game_id)
        manifest, pointer = await self.latest(game_id)
        self._latest_seen[game_id] = (manifest, pointer)
        return await self._recheck(game_id)

    async def _recheck(self, game_id: str) -> UpdateCheck:
        manifest, pointer = self._latest_seen[game_id]
        check = await asyncio.to_thread(
            check_update, self.game_dir(game_id), manifest, pointer, self._clock()
        )
        self._checks[game_id] = check
        return check

    async def download(self, game_id: str) -> UpdateRun:
        """Start updating to the latest release in the background (checks first). A release
        still locked is preloaded instead; one past its unlock time needs its key first."""
        self._refuse_if_busy(game_id)
        check = await self.check(game_id)
        manifest, _ = self._latest_seen[game_id]
        if check.locked:
            preload = await self.preloader.start_preload(game_id)
            state = "preloaded" if preload.state == "preloaded" else "preloading"
            run = UpdateRun(state, manifest.release, unlock_at=manifest.unlock_at)
            self._runs[game_id] = run
            return run
        key = await self._release_key(manifest) if manifest.locked else None
        run = UpdateRun("running", check.latest_release, unlock_at=manifest.unlock_at)
        self._runs[game_id] = run
        self._tasks[game_id] = asyncio.create_task(
            self._update_in_background(game_id, manifest, key), name=f"update-{game_id}"
        )
        return run

    async def unlock(self, game_id: str, manifest: ReleaseManifest) -> UpdateResult:
        """Install a locked release whose unlock time has come, in the foreground: the key
        from the library, the chunks from the preload, the swarm or the CDN."""
        self._refuse_if_busy(game_id)
        key = await self._release_key(manifest)
        self._runs[game_id] = UpdateRun("running", manifest.release, unlock_at=manifest.unlock_at)
        task = asyncio.create_task(self._update(game_id, manifest, key), name=f"unlock-{game_id}")
        self._tasks[game_id] = task
        # the unlock goes on if the caller hangs up; the run shows how it ends
        result: UpdateResult = await asyncio.shield(task)
        return result

    def _refuse_if_busy(self, game_id: str) -> None:
        task = self._tasks.get(game_id)
        if task is not None and not task.done():
            raise UpdateInProgress(f"an update of {game_id} is already running")
        if self._installs is not None and self._installs.busy(game_id):
            raise UpdateInProgress(f"an install or repair of {game_id} is running")

    async def _release_key(self, manifest: ReleaseManifest) -> bytes:
        library = LibraryClient(self.session(), self._library_url, self._user_token)
        return await library.release_key(manifest.game_id, manifest.release)

    async def _update_in_background(
        self, game_id: str, manifest: ReleaseManifest, key: bytes | None
    ) -> None:
        with contextlib.suppress(AgentError, OSError, ValueError):
            await self._update(game_id, manifest, key)  # the run records a failure

    async def _update(
        self, game_id: str, manifest: ReleaseManifest, key: bytes | None
    ) -> UpdateResult:
        try:
            return await self._apply(game_id, manifest, key)
        except (AgentError, OSError, ValueError) as exc:
            log.warning("update failed", extra=fields(game_id=game_id, error=str(exc)))
            self._runs[game_id] = replace(self._runs[game_id], state="failed", error=str(exc))
            raise

    async def _apply(
        self, game_id: str, manifest: ReleaseManifest, key: bytes | None
    ) -> UpdateResult:
        game_dir = self.game_dir(game_id)
        swarm = await self._installs.swarm() if self._installs is not None else None
        sources = update_sources(
            self.session(),
            self._cdn_urls,
            manifest,
            game_dir,
            swarm=swarm,
            key=key,
            pacer=self.pacer,
        )

        def progress(update: UpdateProgress) -> None:
            self._runs[game_id] = _counted(replace(self._runs[game_id], progress=update), sources)

        try:
            result = await UpdateApplier(sources.chunks, progress=progress).apply(
                game_dir, manifest
            )
        finally:
            await sources.close()
            self._runs[game_id] = _counted(self._runs[game_id], sources)
        log.info(
            "update done",
            extra=fields(
                game_id=game_id, release=manifest.release, fetched=result.fetched_bytes,
                peer_bytes=sources.peer_bytes, cdn_bytes=sources.cdn_bytes,
            ),
        )  # fmt: skip
        await self.preloader.release_installed(game_id, manifest.release)
        await self._follow(game_id, manifest)
        if game_id in self._latest_seen:
            with contextlib.suppress(UpdateError, OSError):
                await self._recheck(game_id)
        # "updated" only once the install record, seeding and launchability follow the release
        self._runs[game_id] = replace(self._runs[game_id], state="updated", result=result)
        return result

    async def _follow(self, game_id: str, manifest: ReleaseManifest) -> None:
        if self._installs is None:
            return
        try:
            await self._installs.follow(game_id, manifest)
        except (AgentError, OSError, RuntimeError) as exc:
            log.warning(
                "install record not moved to the release",
                extra=fields(game_id=game_id, release=manifest.release, error=str(exc)),
            )

    async def changelog(self, game_id: str) -> dict[str, Any]:
        check = self._checks.get(game_id) or await self.check(game_id)
        return {
            "game_id": game_id,
            "release": check.latest_release,
            "critical": check.critical,
            "changelog": check.changelog,
        }

    async def rollback(self, game_id: str) -> CurrentRelease:
        await self.installed(game_id)
        self._refuse_if_busy(game_id)
        game_dir = self.game_dir(game_id)
        pointer = await asyncio.to_thread(rollback, game_dir)
        log.info("update rolled back", extra=fields(game_id=game_id, release=pointer.release))
        manifest = await asyncio.to_thread(load_manifest, game_dir, pointer.release)
        await self._follow(game_id, manifest)
        if game_id in self._latest_seen:
            with contextlib.suppress(UpdateError, OSError):
                await self._recheck(game_id)
        return pointer


def _counted(run: UpdateRun, sources: UpdateSources) -> UpdateRun:
    return replace(run, peer_bytes=sources.peer_bytes, cdn_bytes=sources.cdn_bytes)


def _discard_scratch(install_dir: Path) -> None:
    for game_dir in game_dirs(install_dir):
        discard_swarm_scratch(game_dir)
