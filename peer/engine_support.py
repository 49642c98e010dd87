"""The engine's background duties: alerts, resume data, rate limits, CDN probes, restore."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

from peerpipe.logs import fields

from .errors import AgentError, TorrentError
from .model import Download, DownloadState
from .pipeline import Runtime
from .settings import RateLimits, Settings
from .swarm import request_resume_data, torrent_key

log = logging.getLogger("peerpipe.peer.engine")

RESUME_DATA_SECONDS = 5.0  # running downloads save resume data at least this often
_PROBE_SECONDS = 15.0
_WANTED_PROBE_SECONDS = 1.0  # while a download wants a web seed and no node is healthy
_LIMITS_SECONDS = 1.0
_HURRIED_SECONDS = 0.005  # how often alerts are drained while a task waits on one
_INTERRUPTED = (DownloadState.CHECKING, DownloadState.DOWNLOADING, DownloadState.VERIFYING)


class Ticker:
    """One task: drains libtorrent's alerts and keeps limits, resume data and probes fresh."""

    def __init__(self, rt: Runtime, settings: Callable[[], Settings]) -> None:
        self._rt = rt
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._limits: RateLimits | None = None
        # probes run beside the ticker: a node that does not answer must not hold up the
        # alerts (a download's disk flush waits on one)
        self._probe: asyncio.Task[None] | None = None
        self.banned_peers = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-ticker")

    async def stop(self) -> None:
        for task in (self._task, self._probe):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def apply_limits(self) -> None:
        """Global limits of the settings and schedule window in force now."""
        limits = self._settings().limits_at(datetime.now().time())
        if limits != self._limits:
            self._rt.swarms.set_rate_limits(limits.download, limits.upload)
            self._limits = limits
            log.info("rate limits", extra=fields(download=limits.download, upload=limits.upload))

    async def _run(self) -> None:
        saved_at = limited_at = probed_at = time.monotonic()
        while True:
            try:
                await self._drain()
                now = time.monotonic()
                if now - limited_at >= _LIMITS_SECONDS:
                    limited_at = now
                    self.apply_limits()
                if now - saved_at >= RESUME_DATA_SECONDS:
                    saved_at = now
                    for download_id in list(self._rt.transfers):
                        handle = self._rt.torrents.get(download_id)
                        if handle is not None and handle.need_save_resume_data():
                            request_resume_data(handle)
                wanted = self._rt.nodes.probe_wanted and now - probed_at >= _WANTED_PROBE_SECONDS
                probing = self._probe is not None and not self._probe.done()
                if not probing and (wanted or now - probed_at >= _PROBE_SECONDS):
                    probed_at = now
                    self._probe = asyncio.create_task(self._rt.nodes.probe(self._rt.http))
                    self._probe.add_done_callback(_log_probe_failure)
            except Exception:  # keep ticking whatever happens; the log says what
                log.exception("agent ticker failed")
            await self._pause()

    async def _pause(self) -> None:
        """Until the next drain: a poll interval, or a moment while a task waits on an
        alert (the disk flush before an install's file check)."""
        rt = self._rt
        interval = _HURRIED_SECONDS if rt.flushes else rt.poll_interval
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await rt.hurry.wait()
        rt.hurry.clear()

    async def _drain(self) -> None:
        rt = self._rt
        for event in rt.swarms.pop_events():
            download_id = rt.keys.get(event.torrent)
            if download_id is None:
                continue
            if event.kind == "resume_data":
                await asyncio.to_thread(rt.store.save_resume_data, download_id, event.data)
            elif event.kind == "cache_flushed":
                for waiter in rt.flushes.pop(event.torrent, []):
                    if not waiter.done():
                        waiter.set_result(None)
            elif event.kind == "web_seed_failed":
                transfer = rt.transfers.get(download_id)
                if transfer is not None:
                    transfer.web_seed_failed(event.url)
            elif event.kind == "peer_banned":
                self.banned_peers += 1


def _log_probe_failure(probe: asyncio.Task[None]) -> None:
    if not probe.cancelled() and probe.exception() is not None:
        log.error("CDN probe failed", exc_info=probe.exception())


_BACKGROUND: set[asyncio.Task[None]] = set()


async def restore_records(rt: Runtime, clean: bool) -> dict[str, Download]:
    """The stored downloads, interrupted ones back in the queue (their files re-checked after
    a crash), installed ones seeding again."""
    records: dict[str, Download] = {}
    installed = []
    for download in await rt.store.all():
        if download.state in _INTERRUPTED:
            download = download.evolve(state=DownloadState.QUEUED, download_rate=0)
            await rt.store.save(download)
        if download.state in (DownloadState.QUEUED, DownloadState.PAUSED) and not clean:
            # resume data may be seconds older than the files: trust only a hash check
            rt.recheck.add(download.id)
        if download.state is DownloadState.INSTALLED:
            installed.append(download)
        records[download.id] = download
    if installed:
        task = asyncio.create_task(_seed_again(rt, installed), name="seed-installed")
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
    return records


async def _seed_again(rt: Runtime, installed: list[Download]) -> None:
    try:
        passkey: str | None = await rt.library().passkey()
    except AgentError as exc:
        log.warning("seeding without the tracker", extra=fields(error=str(exc)))
        passkey = None
    announce = f"{rt.config.agent.tracker_url.rstrip('/')}/{passkey}/announce" if passkey else None
    for download in installed:
        resume = await rt.store.resume_data(download.id)
        if resume is None or download.id in rt.torrents:
            continue
        try:
            handle = rt.swarms.rejoin(resume, rt.install_root(download.game_id), announce)
        except (TorrentError, RuntimeError) as exc:
            log.warning("cannot seed", extra=fields(download=download.id, error=str(exc)))
            continue
        rt.torrents[download.id] = handle
        rt.keys[torrent_key(handle)] = download.id
