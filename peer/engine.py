"""The download manager: a persistent queue of installs over one libtorrent session.

Downloads wait in priority order; at most ``max_concurrent_downloads`` run, and the next one
starts when one finishes or is paused. Everything the player set (queue, priorities, limits,
settings) lives in SQLite, and libtorrent's resume data is saved periodically and on exit,
so a restart, even after kill -9, carries on where the agent stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from peerpipe.config import Config
from peerpipe.logs import fields

from .cdn import CdnNodes
from .engine_support import Ticker, restore_records
from .errors import DownloadConflict, DownloadNotFound
from .model import ACTIVE_STATES, Download, DownloadState
from .pipeline import Runtime, run_install
from .queue import plan, queue_order, reordered_positions
from .release import ReleaseSource
from .settings import RateLimits, Settings
from .state import DownloadStore
from .swarm import Swarms, request_resume_data

log = logging.getLogger("peerpipe.peer.engine")
_SETTINGS_KEY = "settings"
_CLEAN_KEY = "clean_shutdown"


class Engine:
    """Installs games for one player; ``start()`` before use and ``close()`` after."""

    def __init__(
        self,
        config: Config,
        *,
        release_source: ReleaseSource | None = None,
        poll_interval: float = 0.1,
    ) -> None:
        self._config = config
        self._agent = config.agent
        self._release_source = release_source
        self._poll_interval = poll_interval
        self.store = DownloadStore(self._agent.data_dir / "agent.db")
        self._records: dict[str, Download] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Condition()
        self.version = 0
        self.settings = Settings()
        self._runtime: Runtime | None = None
        self._ticker: Ticker | None = None
        self._scheduling = asyncio.Lock()
        self._closing = False
        self._background: set[asyncio.Future[None]] = set()

    # life cycle

    async def start(self) -> None:
        await self.store.open()
        stored = await self.store.setting(_SETTINGS_KEY)
        if stored:
            self.settings = Settings.from_json(json.loads(stored))
        elif self._agent.download_rate_limit or self._agent.upload_rate_limit:
            self.settings = Settings(
                download_rate_limit=self._agent.download_rate_limit,
                upload_rate_limit=self._agent.upload_rate_limit,
            )
        clean = await self.store.setting(_CLEAN_KEY) == "1"
        await self.store.put_setting(_CLEAN_KEY, "0")
        if self._release_source is None:
            from .trust import TrustedReleases  # imports python-tuf only when it is needed

            self._release_source = TrustedReleases(self._agent)
        limits = self.limits_now()
        self._runtime = Runtime(
            config=self._config,
            store=self.store,
            swarms=Swarms(limits.download, limits.upload),
            http=aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)),
            nodes=CdnNodes(self._agent.cdn_urls),
            release_source=self._release_source,
            settings=lambda: self.settings,
            update=self._update,
            record=lambda download_id: self._records[download_id],
            poll_interval=self._poll_interval,
        )
        self._records = await restore_records(self._runtime, clean)
        self._ticker = Ticker(self._runtime, lambda: self.settings)
        self._ticker.start()
        await self._reschedule()

    async def close(self) -> None:
        self._closing = True  # no download starts from here on
        rt = self._runtime
        if self._ticker is not None:
            await self._ticker.stop()
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        if rt is None:
            return
        self._runtime = None
        for handle in rt.torrents.values():
            handle.pause()
        await self._save_all_resume_data(rt)
        await self.store.put_setting(_CLEAN_KEY, "1")
        await asyncio.to_thread(rt.swarms.close)
        await rt.http.close()
        await self.store.close()

    async def _save_all_resume_data(self, rt: Runtime, deadline: float = 5.0) -> None:
        """Ask for every torrent's resume data and store what arrives within ``deadline``."""
        waiting = set(rt.keys)
        for handle in rt.torrents.values():
            request_resume_data(handle)
        ends = time.monotonic() + deadline
        while waiting and time.monotonic() < ends:
            for event in rt.swarms.pop_events():
                if event.kind == "resume_data" and event.torrent in rt.keys:
                    download_id = rt.keys[event.torrent]
                    await asyncio.to_thread(rt.store.save_resume_data, download_id, event.data)
                    waiting.discard(event.torrent)
            await asyncio.sleep(0.02)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("engine is not started")
        return self._runtime

    @property
    def banned_peers(self) -> int:
        return self._ticker.banned_peers if self._ticker is not None else 0

    def install_dir(self) -> Path:
        """Where games are installed now (the player's setting, else the configured one)."""
        chosen = self.settings.install_dir
        return Path(chosen) if chosen else self._agent.install_dir

    def limits_now(self) -> RateLimits:
        """The session's limits in force now: the settings', or a schedule window's."""
        return self.settings.limits_at(datetime.now().time())

    @property
    def listen_port(self) -> int:
        """The BitTorrent port this agent accepts peers on."""
        return self.runtime.swarms.listen_port

    # reading

    def live(self) -> list[Download]:
        return list(self._records.values())

    async def get(self, download_id: str) -> Download | None:
        return self._records.get(download_id)

    def require(self, download_id: str) -> Download:
        """The download with this id, or the only one whose id starts with it (4+ chars)."""
        found = self._records.get(download_id)
        if found is None and len(download_id) >= 4:
            matches = [item for key, item in self._records.items() if key.startswith(download_id)]
            found = matches[0] if len(matches) == 1 else None
        if found is None:
            raise DownloadNotFound(f"no download {download_id}")
        return found

    async def downloads(self) -> list[Download]:
        return list(self._records.values())

    def queue(self) -> list[Download]:
        return queue_order(self._records.values())

    async def wait(self, download_id: str) -> Download:
        """The download once it has finished (installed, failed, refused or cancelled);
        callers bound the wait with ``asyncio.timeout``."""
        return await self.wait_for(download_id, lambda item: item.state.finished)

    async def wait_for(self, download_id: str, condition: Any) -> Download:
        async with self._changed:
            while True:
                download = self.require(download_id)
                if condition(download):
                    return download
                await self._changed.wait()

    async def changes(self, seen: int) -> int:
        """Wait until something changed after version ``seen``; the new version."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.version != seen)
            return self.version

    # writing

    async def _update(self, download_id: str, persist: bool = True, **changes: Any) -> Download:
        download = self._records[download_id].evolve(**changes)
        self._records[download_id] = download
        if persist:
            await self.store.save(download)
        async with self._changed:
            self.version += 1
            self._changed.notify_all()
        if "state" in changes and download.state not in ACTIVE_STATES:
            self._tasks.pop(download_id, None)
            asyncio.get_running_loop().call_soon(self._schedule_soon)
        return download

    def _schedule_soon(self) -> None:
        task = asyncio.ensure_future(self._reschedule())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reschedule(self) -> None:
        async with self._scheduling:
            await self._reschedule_now()

    async def _reschedule_now(self) -> None:
        if self._runtime is None or self._closing:
            return
        running = {key for key, task in self._tasks.items() if not task.done()}
        todo = plan(self._records.values(), running, self.settings.max_concurrent_downloads)
        for download_id in todo.stop:
            await self._halt(download_id, DownloadState.QUEUED)
        for download_id in todo.start:
            self._tasks[download_id] = asyncio.create_task(
                run_install(self.runtime, download_id), name=f"install-{download_id}"
            )

    async def _halt(self, download_id: str, state: DownloadState) -> None:
        """Stop a download's task, keep its torrent paused with fresh resume data."""
        task = self._tasks.pop(download_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        handle = self.runtime.torrents.get(download_id)
        if handle is not None:
            handle.pause()
            request_resume_data(handle)
        await self._update(download_id, state=state, download_rate=0, upload_rate=0)

    async def install(self, game_id: str, release: int | None = None) -> Download:
        """Queue the install of ``game_id`` (latest release when None)."""
        last = max((item.position for item in self._records.values()), default=-1)
        download = Download(id=uuid.uuid4().hex, game_id=game_id, release=release)
        download = download.evolve(position=last + 1)
        self._records[download.id] = download
        await self.store.save(download)
        await self._reschedule()
        return self._records[download.id]

    async def pause(self, download_id: str) -> Download:
        download = self.require(download_id)
        download_id = download.id
        if download.state is DownloadState.PAUSED:
            return download
        if download.state not in ACTIVE_STATES:
            raise DownloadConflict(f"download {download_id} is {download.state}: nothing to pause")
        await self._halt(download_id, DownloadState.PAUSED)
        await self._reschedule()
        return self.require(download_id)

    async def resume(self, download_id: str) -> Download:
        """Back into the queue: a paused download, or a failed one to try again."""
        download = self.require(download_id)
        download_id = download.id
        if download.state in ACTIVE_STATES:
            return download
        if download.state not in (DownloadState.PAUSED, DownloadState.FAILED):
            raise DownloadConflict(f"download {download_id} is {download.state}: cannot resume")
        await self._update(download_id, state=DownloadState.QUEUED, error=None)
        await self._reschedule()
        return self.require(download_id)

    async def cancel(self, download_id: str) -> Download:
        download = self.require(download_id)
        download_id = download.id
        if download.state.finished:
            raise DownloadConflict(f"download {download_id} is {download.state}: cannot cancel")
        await self._halt(download_id, DownloadState.CANCELLED)
        self._drop_torrent(download_id, delete_files=True)
        await self._reschedule()
        return self.require(download_id)

    async def delete(self, download_id: str) -> None:
        """Forget a download; an installed game is uninstalled (its files removed)."""
        download = self.require(download_id)
        download_id = download.id
        if download.state in ACTIVE_STATES or download.state is DownloadState.PAUSED:
            await self._halt(download_id, DownloadState.CANCELLED)
        handle = self.runtime.forget_torrent(download_id)
        if handle is not None:
            await self.runtime.swarms.remove_with_files(handle)
        self._records.pop(download_id, None)
        await self.store.delete(download_id)
        if download.state is DownloadState.INSTALLED:
            await self.runtime.library().report_status(download.game_id, "uninstalled")
        await self._reschedule()
        log.info("download deleted", extra=fields(download=download_id))

    def _drop_torrent(self, download_id: str, delete_files: bool) -> None:
        handle = self.runtime.forget_torrent(download_id)
        if handle is not None:
            self.runtime.swarms.remove(handle, delete_files=delete_files)

    async def set_priority(self, download_id: str, priority: int) -> Download:
        download_id = self.require(download_id).id
        await self._update(download_id, priority=priority)
        await self._reschedule()
        return self.require(download_id)

    async def reorder(self, order: list[str]) -> list[Download]:
        positions = reordered_positions(list(self._records.values()), order)
        for download_id, position in positions.items():
            await self._update(download_id, position=position)
        await self._reschedule()
        return self.queue()

    async def pause_all(self) -> list[Download]:
        # under the scheduling lock: a download halted first must not hand its slot to one
        # that is about to be paused too
        async with self._scheduling:
            for download_id in list(self._records):
                if self._records[download_id].state in ACTIVE_STATES:
                    await self._halt(download_id, DownloadState.PAUSED)
        return self.queue()

    async def resume_all(self) -> list[Download]:
        for download in list(self._records.values()):
            if download.state is DownloadState.PAUSED:
                await self._update(download.id, state=DownloadState.QUEUED)
        await self._reschedule()
        return self.queue()

    async def set_limits(self, download_id: str, download: int, upload: int) -> Download:
        download_id = self.require(download_id).id
        updated = await self._update(
            download_id, download_rate_limit=download, upload_rate_limit=upload
        )
        handle = self.runtime.torrents.get(download_id)
        if handle is not None:
            handle.set_download_limit(download or -1)
            handle.set_upload_limit(upload or -1)
        return updated

    async def update_settings(self, changes: Any) -> Settings:
        self.settings = self.settings.updated(changes)
        await self.store.put_setting(_SETTINGS_KEY, json.dumps(self.settings.to_json()))
        if self._ticker is not None:
            self._ticker.apply_limits()
        await self._reschedule()
        return self.settings

    async def repair(self, download_id: str) -> Download:
        """Hash-check the installed files and fetch only the pieces that fail."""
        download = self.require(download_id)
        download_id = download.id
        if download.state is not DownloadState.INSTALLED:
            raise DownloadConflict(f"download {download_id} is {download.state}: not installed")
        self.runtime.recheck.add(download_id)
        await self._update(download_id, state=DownloadState.QUEUED, verified=False)
        await self._reschedule()
        return self.require(download_id)
