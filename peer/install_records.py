"""Keeping the engine's install record and seeding in step with the release a game runs.

An update, a rollback or an unlock switches the release in the game directory. The download
record that installed the game (``GET /api/v1/downloads``, ``/content/<game>/manifest``,
verify, repair) must then name that release, and the agent must seed that release's torrent
instead of the old one. The updater also borrows the engine's libtorrent session for an
update's own swarm download: one session, one listening port, the player's limits.

The order of a switch (old torrent out, old resume data dropped, record rewritten, new
torrent in, its resume data saved once it seeds) leaves nothing a restart cannot finish:
``reconcile`` at start-up repeats whatever step a crash cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from peerpipe.logs import fields
from signing import ReleaseManifest

from .engine import Engine
from .errors import AgentError, TorrentError
from .model import ACTIVE_STATES, Download, DownloadState
from .swarm import request_resume_data, torrent_key
from .updates import SwarmAccess

log = logging.getLogger("peerpipe.peer.installs")

_CHECK_DEADLINE = 3600.0  # libtorrent hashes the whole release before it seeds again


class InstallRecords:
    """The engine's records and torrents as the updater needs them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiters: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for task in self._waiters:
            task.cancel()
        await asyncio.gather(*self._waiters, return_exceptions=True)
        self._waiters.clear()

    def busy(self, game_id: str) -> bool:
        """An install or repair of the game is queued or running."""
        return any(
            item.game_id == game_id and item.state in ACTIVE_STATES for item in self._engine.live()
        )

    def record(self, game_id: str) -> Download | None:
        installed = [
            item
            for item in self._engine.live()
            if item.game_id == game_id and item.state is DownloadState.INSTALLED
        ]
        return max(installed, key=lambda item: item.release or 0) if installed else None

    async def swarm(self) -> SwarmAccess | None:
        """The engine's session and our announce URL; None when P2P is off or the library
        gives no passkey (the update then uses the CDN alone)."""
        if not self._engine.settings.p2p_enabled:
            return None
        announce = await self._announce_url()
        if announce is None:
            return None
        return SwarmAccess(self._engine.runtime.swarms, announce)

    async def _announce_url(self) -> str | None:
        rt = self._engine.runtime
        try:
            passkey = await rt.library().passkey()
        except AgentError as exc:
            log.warning("no passkey: the swarm is not used", extra=fields(error=str(exc)))
            return None
        return f"{rt.config.agent.tracker_url.rstrip('/')}/{passkey}/announce"

    async def follow(self, game_id: str, manifest: ReleaseManifest) -> Download | None:
        """Point the game's install record at ``manifest``'s release and seed its torrent
        (and no longer the torrent of the release it ran before)."""
        rt = self._engine.runtime
        record = self.record(game_id)
        if record is None:
            log.info("no install record to follow", extra=fields(game_id=game_id))
            return None
        handle = rt.torrents.get(record.id)
        seeding = handle is not None and torrent_key(handle) == manifest.torrent.info_hash_v1
        if record.release == manifest.release and seeding:
            return record
        if handle is not None:
            rt.forget_torrent(record.id)
            await rt.swarms.remove_and_wait(handle)
        if record.release != manifest.release:
            await rt.store.forget_resume_data(record.id)
            record = await rt.update(
                record.id,
                release=manifest.release,
                total_bytes=manifest.total_size,
                downloaded_bytes=manifest.total_size,
                verified=True,
            )
        await self._seed(record.id, game_id, manifest)
        log.info(
            "install record follows the release",
            extra=fields(game_id=game_id, download=record.id, release=manifest.release),
        )
        return record

    async def reconcile(self, game_id: str, manifest: ReleaseManifest) -> None:
        """At start-up: finish a switch a crash interrupted (the record names another
        release, or the new torrent's resume data was never saved)."""
        record = self.record(game_id)
        if record is None:
            return
        stored = await self._engine.runtime.store.resume_data(record.id)
        if record.release == manifest.release and stored is not None:
            return  # the engine seeds it from its resume data
        await self.follow(game_id, manifest)

    async def _seed(self, download_id: str, game_id: str, manifest: ReleaseManifest) -> None:
        rt = self._engine.runtime
        announce = await self._announce_url() if self._engine.settings.p2p_enabled else None
        # The engine may have started seeding the old release meanwhile (it does at start-up)
        stale = rt.forget_torrent(download_id)
        if stale is not None and torrent_key(stale) != manifest.torrent.info_hash_v1:
            rt.swarms.remove(stale)
        elif stale is not None:
            rt.torrents[download_id] = stale
            rt.keys[torrent_key(stale)] = download_id
            return
        try:
            handle = rt.swarms.join(manifest, rt.install_root(game_id), announce, None)
        except (TorrentError, RuntimeError) as exc:
            log.warning("release not seeded", extra=fields(game_id=game_id, error=str(exc)))
            return
        rt.torrents[download_id] = handle
        rt.keys[torrent_key(handle)] = download_id
        task = asyncio.create_task(_save_once_seeding(handle), name=f"seed-{game_id}")
        self._waiters.add(task)
        task.add_done_callback(self._waiters.discard)


async def _save_once_seeding(handle: Any) -> None:
    """Resume data once libtorrent has checked the release: a restart seeds from it."""
    ends = time.monotonic() + _CHECK_DEADLINE
    with contextlib.suppress(RuntimeError):  # the torrent went away (agent stopping)
        while time.monotonic() < ends:
            if not handle.is_valid():
                return
            if handle.status().is_seeding:
                request_resume_data(handle)
                return
            await asyncio.sleep(0.2)
