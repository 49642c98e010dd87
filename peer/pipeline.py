"""The install pipeline of one download, run as the download's task.

access (library) → verified manifest (trust) → disk space → swarm (tracker with the player's
passkey, the CDN's BitTorrent seed, web seeds under offload control) → file verification →
installed, then keep seeding within the upload limit. A pause, a lost queue slot or shutdown
cancels the task; the engine decides what the record says then.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from peerpipe.config import Config
from peerpipe.logs import fields

from .cdn import CdnNodes
from .errors import (
    AccessRefused,
    AgentError,
    ContentRejected,
    NotEnoughDiskSpace,
    VerificationFailed,
)
from .library import LibraryClient
from .model import Download, DownloadState, utc_now
from .release import Manifest, ReleaseSource
from .settings import Settings
from .state import DownloadStore
from .swarm import Swarms, TorrentPieces, flush_to_disk, request_resume_data, torrent_key
from .transfer import Transfer, TransferPlan
from .verify import ReleaseCheck

log = logging.getLogger("peerpipe.peer.pipeline")

Update = Callable[..., Awaitable[Download]]


@dataclass
class Runtime:
    """What every download task shares with the engine."""

    config: Config
    store: DownloadStore
    swarms: Swarms
    http: aiohttp.ClientSession
    nodes: CdnNodes
    release_source: ReleaseSource
    settings: Callable[[], Settings]
    update: Update
    record: Callable[[str], Download]
    poll_interval: float
    torrents: dict[str, Any] = field(default_factory=dict)  # download id -> handle
    keys: dict[str, str] = field(default_factory=dict)  # torrent key -> download id
    transfers: dict[str, Transfer] = field(default_factory=dict)
    recheck: set[str] = field(default_factory=set)  # ids whose files must be hash-checked
    # torrent key -> waiters for its files to be written (see ``flushed``)
    flushes: dict[str, list[asyncio.Future[None]]] = field(default_factory=dict)
    # set when someone waits on an alert: the ticker drains alerts at once, not a poll later
    hurry: asyncio.Event = field(default_factory=asyncio.Event)

    def install_root(self, game_id: str) -> Path:
        chosen = self.settings().install_dir
        return (Path(chosen) if chosen else self.config.agent.install_dir) / game_id

    def library(self) -> LibraryClient:
        agent = self.config.agent
        return LibraryClient(self.http, agent.library_url, agent.user_token)

    def forget_torrent(self, download_id: str) -> Any:
        handle = self.torrents.pop(download_id, None)
        if handle is not None:
            self.keys.pop(torrent_key(handle), None)
        return handle


async def run_install(rt: Runtime, download_id: str) -> None:
    """The task body: runs the pipeline and records how it ended."""
    game_id = rt.record(download_id).game_id
    library = rt.library()
    began = time.monotonic() - rt.record(download_id).seconds
    state, error = DownloadState.FAILED, None
    try:
        await _install(rt, download_id, library, began)
        state = DownloadState.INSTALLED
    except AccessRefused as exc:
        state, error = DownloadState.REFUSED, str(exc)
    except AgentError as exc:
        error = str(exc)
    except Exception as exc:
        log.exception("install crashed", extra=fields(download=download_id))
        error = f"internal error: {type(exc).__name__}: {exc}"
    if state is DownloadState.FAILED:
        handle = rt.forget_torrent(download_id)
        if handle is not None:  # stop sharing a release that may be incomplete or corrupt
            rt.swarms.remove(handle)
        await library.report_status(game_id, "failed")
    await rt.update(
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


async def _install(rt: Runtime, download_id: str, library: LibraryClient, began: float) -> None:
    download = await rt.update(
        download_id, state=DownloadState.CHECKING, started_at=utc_now(), error=None
    )
    game_id = download.game_id
    await library.check_access(game_id)
    # three round trips that need only the access answer: together, not one after another
    passkey, _, manifest = await asyncio.gather(
        library.passkey(),
        library.report_status(game_id, "installing"),
        rt.release_source(game_id, download.release),
    )
    download = await rt.update(
        download_id, release=manifest.release, total_bytes=manifest.total_size
    )
    save_path = rt.install_root(game_id)
    needed = max(0, manifest.total_size - download.downloaded_bytes)
    await asyncio.to_thread(check_disk_space, save_path, needed)
    handle = await _join(rt, download_id, manifest, save_path, passkey)
    phases = {"prepare": time.monotonic()}
    await rt.update(download_id, state=DownloadState.DOWNLOADING)
    plan = _plan(rt, download_id, rt.settings())
    transfer = Transfer(rt.swarms, rt.nodes, handle, plan, rt.poll_interval)
    rt.transfers[download_id] = transfer
    release_root = save_path / str(manifest.release)
    pieces = TorrentPieces(handle)
    check = ReleaseCheck(release_root, manifest.files, pieces, pieces.order)
    check.start()
    try:
        await transfer.run(lambda *a, **k: _progress(rt, began, *a, **k))
        phases["transfer"] = time.monotonic()
        await rt.update(download_id, state=DownloadState.VERIFYING)
        await flushed(rt, download_id, handle)
        phases["flush"] = time.monotonic()
        mismatches = await check.finish()
        phases["verify"] = time.monotonic()
    except ContentRejected:
        await check.halt()
        await _discard_rejected(rt, download_id, handle, release_root)
        raise
    finally:
        check.stop()
        rt.transfers.pop(download_id, None)
    if mismatches:
        _log_phases(download_id, began, phases, check)
        listed = "; ".join(str(item) for item in mismatches[:5])
        raise VerificationFailed(f"{len(mismatches)} file(s) do not match the manifest: {listed}")
    await _record_install(save_path, manifest)
    phases["record"] = time.monotonic()
    _log_phases(download_id, began, phases, check)
    await rt.update(download_id, verified=True)
    await library.report_status(game_id, "installed")


def _log_phases(
    download_id: str, began: float, phases: dict[str, float], check: ReleaseCheck
) -> None:
    """Where an install's time went: the seconds each phase ended after the previous one."""
    durations, last = {}, began
    for name, at in phases.items():
        durations[f"{name}_seconds"] = round(at - last, 3)
        last = at
    log.info(
        "install phases",
        extra=fields(download=download_id, files_checked_early=check.passed_early, **durations),
    )


async def _record_install(game_dir: Path, manifest: Manifest) -> None:
    """Tell the updater which release this game directory now runs (its later updates start
    from it). Only a signed manifest can be recorded: test sources hand out look-alikes."""
    from signing import ReleaseManifest  # python-tuf loads only with the trust path

    from .updates import record_install

    if isinstance(manifest, ReleaseManifest):
        pointer = await asyncio.to_thread(record_install, game_dir, manifest)
        log.info(
            "install recorded for updates",
            extra=fields(game_id=manifest.game_id, release=pointer.release),
        )


async def _discard_rejected(rt: Runtime, download_id: str, handle: Any, release_root: Path) -> None:
    """Drop a release whose served content was rejected: its torrent, and its partial files
    unless that release is installed already (then its files are the verified ones)."""
    rt.forget_torrent(download_id)
    await rt.swarms.remove_and_wait(handle)
    game_id, release = rt.record(download_id).game_id, rt.record(download_id).release
    installed = [
        other
        for other in await rt.store.all()
        if other.id != download_id
        and (other.game_id, other.release, other.state)
        == (game_id, release, DownloadState.INSTALLED)
    ]
    if not installed:
        await asyncio.to_thread(shutil.rmtree, release_root, True)


async def flushed(rt: Runtime, download_id: str, handle: Any, deadline: float = 30.0) -> None:
    """Wait until libtorrent has written every verified piece to the files: a finished
    torrent may still hold pieces in its disk cache, and the file check reads the files.
    (Resume data asked for with ``flush_disk_cache`` is no such signal: libtorrent starts
    the flush and writes the resume data without waiting for it.) The resume data is asked
    for too, so that the finished torrent seeds again after a restart."""
    key = torrent_key(handle)
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    rt.flushes.setdefault(key, []).append(waiter)
    flush_to_disk(handle)
    request_resume_data(handle)
    rt.hurry.set()
    try:
        async with asyncio.timeout(deadline):
            await waiter
    except TimeoutError:
        log.warning("disk flush not confirmed", extra=fields(download=download_id))
    finally:
        waiters = rt.flushes.get(key, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            rt.flushes.pop(key, None)


async def _progress(rt: Runtime, began: float, download_id: str, **changes: Any) -> Download:
    return await rt.update(download_id, seconds=time.monotonic() - began, **changes)


def _plan(rt: Runtime, download_id: str, settings: Settings) -> TransferPlan:
    record = rt.record(download_id)
    limit = record.download_rate_limit or settings.limits_at(datetime.now().time()).download
    target = settings.p2p_target_rate
    if limit:
        target = min(target, int(limit * 0.8))  # the swarm can at best reach the limit
    return TransferPlan(
        download_id=download_id,
        game_id=record.game_id,
        p2p_enabled=settings.p2p_enabled,
        target_rate=target,
        preferred_region=settings.preferred_region,
        base_peer_bytes=record.peer_bytes,
        base_cdn_bytes=record.cdn_bytes,
    )


async def _join(
    rt: Runtime, download_id: str, manifest: Manifest, save_path: Path, passkey: str
) -> Any:
    """The download's handle: the one kept from a pause, or a new one from resume data."""
    handle = rt.torrents.get(download_id)
    recheck = download_id in rt.recheck
    rt.recheck.discard(download_id)
    if handle is not None and recheck:
        # a fresh torrent checks every file on disk; the old one may still read a replaced or
        # deleted file through its open handle
        rt.forget_torrent(download_id)
        await rt.swarms.remove_and_wait(handle)
        handle = None
    if handle is None:
        if not any(node.healthy for node in rt.nodes.all()):
            await rt.nodes.probe(rt.http)
        # after a crash the resume data may be older than the files: a full check instead
        resume = None if recheck else await rt.store.resume_data(download_id)
        announce = f"{rt.config.agent.tracker_url.rstrip('/')}/{passkey}/announce"
        p2p = rt.settings().p2p_enabled
        handle = rt.swarms.join(manifest, save_path, announce if p2p else None, resume)
        rt.torrents[download_id] = handle
        rt.keys[torrent_key(handle)] = download_id
    else:
        handle.resume()
    record = rt.record(download_id)
    handle.set_download_limit(record.download_rate_limit or -1)
    handle.set_upload_limit(record.upload_rate_limit or -1)
    return handle


def check_disk_space(save_path: Path, needed: int) -> None:
    """NotEnoughDiskSpace unless the file system under ``save_path`` has ``needed`` bytes;
    nothing is created when it has not."""
    existing = save_path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise NotEnoughDiskSpace(
            f"not enough disk space in {save_path}: the release needs {needed} bytes, "
            f"{free} are free"
        )
    save_path.mkdir(parents=True, exist_ok=True)
