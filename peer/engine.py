"""The hybrid P2P + CDN install engine: one libtorrent session, one task per install.

Install flow: access (library) → verified manifest (trust) → disk space → swarm (tracker with
the player's passkey, CDN web seeds and CDN BitTorrent endpoints) → file verification →
installed, then keep seeding within the upload limit.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from peerpipe.config import Config
from peerpipe.logs import fields

from .accounting import ByteLedger
from .cdn import bt_endpoints, web_seed_url
from .errors import (
    AccessRefused,
    AgentError,
    NotEnoughDiskSpace,
    TorrentError,
    VerificationFailed,
)
from .library import LibraryClient
from .model import Download, DownloadState, utc_now
from .release import Manifest, ReleaseSource
from .state import DownloadStore
from .swarm import Swarms, torrent_failure
from .verify import verify_files

log = logging.getLogger("peerpipe.peer.engine")
_PERSIST_SECONDS = 2.0  # progress is written to the database at most this often


class Engine:
    """Installs games for one player; ``start()`` before use and ``close()`` after."""

    def __init__(
        self,
        config: Config,
        *,
        release_source: ReleaseSource | None = None,
        poll_interval: float = 0.25,
    ) -> None:
        self._config = config
        self._agent = config.agent
        self._release_source = release_source
        self._poll_interval = poll_interval
        self._store = DownloadStore(self._agent.data_dir / "agent.db")
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._current: dict[str, Download] = {}
        self._torrents: dict[str, Any] = {}  # download id -> libtorrent handle
        self._changed = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._swarms: Swarms | None = None

    async def start(self) -> None:
        await self._store.open()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._swarms = Swarms(self._agent)
        if self._release_source is None:
            from .trust import TrustedReleases  # imports python-tuf only when it is needed

            self._release_source = TrustedReleases(self._agent)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        swarms, self._swarms = self._swarms, None
        if swarms is not None:
            await asyncio.to_thread(swarms.close)
        if self._http is not None:
            await self._http.close()
            self._http = None
        await self._store.close()

    @property
    def listen_port(self) -> int:
        """The BitTorrent port this agent accepts peers on."""
        return self._require_swarms().listen_port

    async def install(self, game_id: str, release: int | None = None) -> Download:
        """Queue the install of ``game_id`` (latest release when None) and start it."""
        download = Download(id=uuid.uuid4().hex, game_id=game_id, release=release)
        await self._store.save(download)
        self._current[download.id] = download
        self._tasks[download.id] = asyncio.create_task(
            self._run(download.id), name=f"install-{game_id}"
        )
        return download

    def live(self) -> list[Download]:
        """Downloads started since this engine started, as they are right now."""
        return list(self._current.values())

    async def get(self, download_id: str) -> Download | None:
        return self._current.get(download_id) or await self._store.get(download_id)

    async def downloads(self) -> list[Download]:
        stored = await self._store.all()
        return [self._current.get(item.id, item) for item in stored]

    async def wait(self, download_id: str) -> Download:
        """The download once it has finished (installed, failed or refused); callers bound
        the wait with ``asyncio.timeout``."""
        while True:
            self._changed.clear()
            download = await self.get(download_id)
            if download is None:
                raise KeyError(download_id)
            if download.state.finished:
                return download
            await self._changed.wait()

    async def _update(self, download_id: str, persist: bool = True, **changes: Any) -> Download:
        download = self._current[download_id].evolve(**changes)
        self._current[download_id] = download
        if persist:
            await self._store.save(download)
        self._changed.set()
        return download

    async def _run(self, download_id: str) -> None:
        game_id = self._current[download_id].game_id
        library = LibraryClient(
            self._require_http(), self._agent.library_url, self._agent.user_token
        )
        began = time.monotonic()
        state, error = DownloadState.FAILED, None
        try:
            await self._install(download_id, library, began)
            state = DownloadState.INSTALLED
        except AccessRefused as exc:
            state, error = DownloadState.REFUSED, str(exc)
        except AgentError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("install crashed", extra=fields(download=download_id))
            error = f"internal error: {type(exc).__name__}: {exc}"
        if state is DownloadState.FAILED:
            self._leave_swarm(download_id)
            await library.report_status(game_id, "failed")
        await self._update(
            download_id,
            state=state,
            error=error,
            finished_at=utc_now(),
            seconds=time.monotonic() - began,
            download_rate=0,
        )
        log.info(
            "install finished",
            extra=fields(download=download_id, game_id=game_id, state=str(state), error=error),
        )

    async def _install(self, download_id: str, library: LibraryClient, began: float) -> None:
        download = await self._update(
            download_id, state=DownloadState.CHECKING, started_at=utc_now()
        )
        game_id = download.game_id
        await library.check_access(game_id)
        passkey = await library.passkey()
        await library.report_status(game_id, "installing")
        manifest = await self._require_source()(game_id, download.release)
        await self._update(download_id, release=manifest.release, total_bytes=manifest.total_size)
        save_path = self._agent.install_dir / game_id
        await asyncio.to_thread(check_disk_space, save_path, manifest.total_size)
        await self._download(download_id, manifest, save_path, passkey, began)
        await self._update(download_id, state=DownloadState.VERIFYING)
        release_root = save_path / str(manifest.release)
        mismatches = await asyncio.to_thread(verify_files, release_root, manifest.files)
        if mismatches:
            listed = "; ".join(str(item) for item in mismatches[:5])
            raise VerificationFailed(
                f"{len(mismatches)} file(s) do not match the manifest: {listed}"
            )
        await self._update(download_id, verified=True)
        await library.report_status(game_id, "installed")

    async def _download(
        self, download_id: str, manifest: Manifest, save_path: Path, passkey: str, began: float
    ) -> None:
        swarms = self._require_swarms()
        announce = f"{self._agent.tracker_url.rstrip('/')}/{passkey}/announce"
        seeds = [web_seed_url(cdn, manifest.game_id) for cdn in self._agent.cdn_urls]
        handle = swarms.join(manifest, save_path, announce, seeds)
        self._torrents[download_id] = handle
        cdn_peers = set(await bt_endpoints(self._require_http(), self._agent.cdn_urls))
        swarms.connect(handle, cdn_peers)
        await self._update(download_id, state=DownloadState.DOWNLOADING)
        ledger = ByteLedger()
        persisted_at = time.monotonic()
        while True:
            swarms.drain_alerts()
            status = handle.status()
            failure = torrent_failure(status)
            if failure:
                raise TorrentError(failure)
            ledger.observe(swarms.sample(handle, cdn_peers))
            split = ledger.reconciled(useful_payload(status))
            done = bool(status.is_finished or status.is_seeding)
            persist = done or time.monotonic() - persisted_at >= _PERSIST_SECONDS
            persisted_at = time.monotonic() if persist else persisted_at
            await self._update(
                download_id,
                persist=persist,
                downloaded_bytes=int(status.total_wanted_done),
                peer_bytes=split.peer,
                cdn_bytes=split.cdn,
                download_rate=int(status.download_payload_rate),
                seconds=time.monotonic() - began,
            )
            if done:
                return
            await asyncio.sleep(self._poll_interval)

    def _leave_swarm(self, download_id: str) -> None:
        """Stop sharing a release that failed: it may be incomplete or corrupt."""
        handle = self._torrents.pop(download_id, None)
        if handle is not None and self._swarms is not None:
            self._swarms.remove(handle)

    def _require_http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("engine is not started")
        return self._http

    def _require_swarms(self) -> Swarms:
        if self._swarms is None:
            raise RuntimeError("engine is not started")
        return self._swarms

    def _require_source(self) -> ReleaseSource:
        if self._release_source is None:
            raise RuntimeError("engine is not started")
        return self._release_source


def useful_payload(status: Any) -> int:
    """Payload bytes that ended up in the release: end-game duplicates (web seeds fetch whole
    ranges) and pieces that failed their hash check are not delivered bytes."""
    received = int(status.total_payload_download)
    return max(0, received - int(status.total_redundant_bytes) - int(status.total_failed_bytes))


def check_disk_space(save_path: Path, needed: int) -> None:
    """NotEnoughDiskSpace unless the file system under ``save_path`` has ``needed`` bytes."""
    save_path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(save_path).free
    if free < needed:
        raise NotEnoughDiskSpace(
            f"not enough disk space in {save_path}: the release needs {needed} bytes, "
            f"{free} are free"
        )
