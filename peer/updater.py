"""The agent's side of delta updates: check a game against its signed latest release, apply
the update in the background, roll back, and say whether a game may launch.

The update machinery itself (planning, staging, the atomic switch, recovery) lives in
``peer.updates``; this module keeps what the API shows between calls: the last check of each
game and the state of its running or finished update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from peerpipe.logs import fields
from signing import ReleaseManifest, ReleasePointer

from .errors import AgentError
from .updates import (
    FirstAvailable,
    HttpChunkSource,
    InstalledGame,
    RecoveryAction,
    UpdateApplier,
    UpdateCheck,
    UpdateError,
    UpdateInProgress,
    UpdateProgress,
    UpdateResult,
    check_update,
    installed_games,
    recover_all,
    rollback,
)
from .updates.layout import CurrentRelease

log = logging.getLogger("peerpipe.peer.updater")

Latest = Callable[[str], Awaitable[tuple[ReleaseManifest, ReleasePointer]]]
"""Fetches a game's verified latest manifest and its signed pointer."""


class GameNotInstalled(AgentError):
    """No current release of the game is recorded in the install directory."""


@dataclass(frozen=True)
class UpdateRun:
    """An update started through the API: ``running``, then ``updated`` or ``failed``."""

    state: str
    to_release: int
    progress: UpdateProgress | None = None
    result: UpdateResult | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        progress, result = self.progress, self.result
        fetched = progress.fetched_bytes if progress else 0
        return {
            "state": self.state,
            "to_release": self.to_release,
            "phase": progress.phase if progress else None,
            "done_bytes": progress.done_bytes if progress else 0,
            "total_bytes": progress.total_bytes if progress else 0,
            "fetched_bytes": result.fetched_bytes if result else fetched,
            "reused_bytes": result.reused_bytes if result else None,
            "error": self.error,
        }


class Updater:
    """Update state of the games under ``install_dir()``; ``start()`` before use."""

    def __init__(
        self, install_dir: Callable[[], Path], latest: Latest, cdn_urls: tuple[str, ...]
    ) -> None:
        self._install_dir = install_dir
        self._latest = latest
        self._cdn_urls = cdn_urls
        self._http: aiohttp.ClientSession | None = None
        self._checks: dict[str, UpdateCheck] = {}
        self._latest_seen: dict[str, tuple[ReleaseManifest, ReleasePointer]] = {}
        self._runs: dict[str, UpdateRun] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._startup_check: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
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
        # a critical release published while the agent was off must block launches again
        self._startup_check = asyncio.create_task(self._check_all(), name="update-check")

    async def _check_all(self) -> None:
        for game in await asyncio.to_thread(installed_games, self._install_dir()):
            try:
                await self.check(game.game_id)
            except (AgentError, OSError, ValueError) as exc:
                log.warning(
                    "update check failed", extra=fields(game_id=game.game_id, error=str(exc))
                )

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *([self._startup_check] if self._startup_check else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def game_dir(self, game_id: str) -> Path:
        return self._install_dir() / game_id

    # reading

    async def overview(self) -> list[dict[str, Any]]:
        games = await asyncio.to_thread(installed_games, self._install_dir())
        return [self._status(game) for game in games]

    async def status(self, game_id: str) -> dict[str, Any]:
        return self._status(await self._installed(game_id))

    def _status(self, game: InstalledGame) -> dict[str, Any]:
        check = self._checks.get(game.game_id)
        run = self._runs.get(game.game_id)
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

    async def _installed(self, game_id: str) -> InstalledGame:
        games = await asyncio.to_thread(installed_games, self._install_dir())
        for game in games:
            if game.game_id == game_id:
                return game
        raise GameNotInstalled(f"{game_id} is not installed (or was installed before updates)")

    # writing

    async def check(self, game_id: str) -> UpdateCheck:
        """Fetch the signed latest release and compare it with the installed one."""
        await self._installed(game_id)
        manifest, pointer = await self._latest(game_id)
        self._latest_seen[game_id] = (manifest, pointer)
        return await self._recheck(game_id)

    async def _recheck(self, game_id: str) -> UpdateCheck:
        manifest, pointer = self._latest_seen[game_id]
        check = await asyncio.to_thread(check_update, self.game_dir(game_id), manifest, pointer)
        self._checks[game_id] = check
        return check

    async def download(self, game_id: str) -> UpdateRun:
        """Start updating to the latest release in the background (checks first)."""
        task = self._tasks.get(game_id)
        if task is not None and not task.done():
            raise UpdateInProgress(f"an update of {game_id} is already running")
        check = await self.check(game_id)
        manifest, _ = self._latest_seen[game_id]
        run = UpdateRun("running", check.latest_release)
        self._runs[game_id] = run
        self._tasks[game_id] = asyncio.create_task(
            self._apply(game_id, manifest), name=f"update-{game_id}"
        )
        return run

    async def _apply(self, game_id: str, manifest: ReleaseManifest) -> None:
        if self._http is None:
            raise RuntimeError("updater is not started")
        source = FirstAvailable([HttpChunkSource(self._http, self._cdn_urls)])

        def progress(update: UpdateProgress) -> None:
            self._runs[game_id] = replace(self._runs[game_id], progress=update)

        applier = UpdateApplier(source, progress=progress)
        try:
            result = await applier.apply(self.game_dir(game_id), manifest)
        except (AgentError, OSError, ValueError) as exc:
            log.warning("update failed", extra=fields(game_id=game_id, error=str(exc)))
            self._runs[game_id] = replace(self._runs[game_id], state="failed", error=str(exc))
            return
        self._runs[game_id] = replace(self._runs[game_id], state="updated", result=result)
        with contextlib.suppress(UpdateError, OSError):
            await self._recheck(game_id)

    async def changelog(self, game_id: str) -> dict[str, Any]:
        check = self._checks.get(game_id) or await self.check(game_id)
        return {
            "game_id": game_id,
            "release": check.latest_release,
            "critical": check.critical,
            "changelog": check.changelog,
        }

    async def rollback(self, game_id: str) -> CurrentRelease:
        await self._installed(game_id)
        task = self._tasks.get(game_id)
        if task is not None and not task.done():
            raise UpdateInProgress(f"an update of {game_id} is running")
        pointer = await asyncio.to_thread(rollback, self.game_dir(game_id))
        log.info("update rolled back", extra=fields(game_id=game_id, release=pointer.release))
        if game_id in self._latest_seen:
            with contextlib.suppress(UpdateError, OSError):
                await self._recheck(game_id)
        return pointer
