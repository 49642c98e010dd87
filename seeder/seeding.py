"""The CDN node's BitTorrent seed: every release torrent in the origin, seeded from disk.

Torrents are added in seed mode with every piece marked verified (the publish pipeline hashed
these very bytes into the torrent, so the node re-hashes nothing, neither at start-up nor on
the first request for a piece) and without trackers: agents connect to CDN nodes directly.
New releases are picked up by rescanning the origin every few seconds.
libtorrent calls that may touch the disk or wait on its network thread run in worker
threads so the event loop never blocks on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, cast

import libtorrent as lt

from peerpipe.config import SeederConfig
from peerpipe.logs import fields
from peerpipe.torrent_session import session_settings
from seeder.mirror import ReleaseMirror
from seeder.origin import LocalOrigin, StoredTorrent

log = logging.getLogger("peerpipe.seeder.seeding")

RESCAN_SECONDS = 2.0
LISTEN_DEADLINE_SECONDS = 10.0
# Players who start a release together all ask the node for the pieces nobody has yet, and
# until one of them holds a piece the others ask for it too: the more players the node feeds
# at once, the more pieces it sends twice. Feeding two at a time (libtorrent's minimum), at
# the node's full rate, and rotating them each unchoke interval, the others take those pieces
# from the two (bench/agent.py, scenario 2: CDN bytes 1.7-1.8x the release with every player
# fed, about 1.2x with two, in less time).
UPLOAD_SLOTS_PER_RELEASE = 2


class ReleaseSeeder:
    """A libtorrent session seeding the releases of one origin directory."""

    def __init__(
        self, origin: LocalOrigin, config: SeederConfig, mirror: ReleaseMirror | None = None
    ) -> None:
        self._origin = origin
        self._config = config
        self._mirror = mirror
        self._session: Any = None
        self._seeded: dict[Path, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.listen_port: int | None = None
        self.peer_count = 0

    async def start(self) -> None:
        settings = session_settings(
            listen_host=self._config.host,
            listen_port=self._config.bt_port,
            upload_rate_limit=self._config.upload_rate_limit,
            user_agent="PeerPipe-CDN/0.1",
        )
        self._session = await asyncio.to_thread(lambda: lt.session(cast(Any, settings)))
        _limit_every_peer(self._session)
        self.listen_port = await self._wait_for_listen_port()
        if self._mirror is not None:
            await self._mirror.sync()
        await asyncio.to_thread(self._rescan)
        self._task = asyncio.create_task(self._run(), name="release-seeder")
        log.info("seeding", extra=fields(bt_port=self.listen_port, releases=len(self._seeded)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._seeded.clear()
        if self._session is not None:
            holder = [self._session]
            self._session = None
            await asyncio.to_thread(_close, holder)

    def rescan_soon(self) -> None:
        """Look for newly published releases now instead of at the next periodic scan."""
        self._wake.set()

    @property
    def seeded_releases(self) -> list[tuple[str, int]]:
        return sorted((path.parent.name, int(path.stem)) for path in self._seeded)

    async def _wait_for_listen_port(self) -> int:
        deadline = time.monotonic() + LISTEN_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            port = int(self._session.listen_port())
            if port:
                return port
            await asyncio.sleep(0.02)
        raise RuntimeError(f"libtorrent did not start listening on {self._config.host}")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RESCAN_SECONDS)
            self._wake.clear()
            try:
                if self._mirror is not None:
                    await self._mirror.sync()
                await asyncio.to_thread(self._rescan)
                await asyncio.to_thread(self._poll)
            except Exception:  # keep seeding whatever else happens; the log says what
                log.exception("seeding loop failed")

    def _rescan(self) -> None:
        for stored in self._origin.torrents():
            if stored.path not in self._seeded:
                self._add(stored)

    def _add(self, stored: StoredTorrent) -> None:
        try:
            info = _without_trackers(stored.path.read_bytes())
        except (OSError, RuntimeError) as exc:
            log.warning("unreadable torrent", extra=fields(path=str(stored.path), error=str(exc)))
            self._seeded[stored.path] = None  # do not retry a broken file every scan
            return
        params = lt.add_torrent_params()
        params.ti = info
        params.save_path = str(self._origin.game_files_dir(stored.game_id))
        params.flags |= lt.torrent_flags.seed_mode
        # Seed mode alone still hashes each piece the first time a player asks for it: two
        # hashes of every byte, on the node's CPU, in the path of the first download. The node
        # serves the same files unhashed over HTTP, and every agent checks each piece against
        # the signed torrent and drops a source that fails it, so that check protects nobody.
        params.verified_pieces = [True] * info.num_pieces()
        params.flags &= ~lt.torrent_flags.auto_managed
        params.flags &= ~lt.torrent_flags.paused
        handle = self._session.add_torrent(params)
        handle.set_max_uploads(UPLOAD_SLOTS_PER_RELEASE)
        self._seeded[stored.path] = handle
        log.info(
            "seeding release",
            extra=fields(game_id=stored.game_id, release=stored.release),
        )

    def _poll(self) -> None:
        for alert in self._session.pop_alerts():
            if alert.category() & lt.alert_category.error:
                log.warning(
                    "libtorrent: %s", alert.message(), extra=fields(alert=type(alert).__name__)
                )
        self.peer_count = sum(
            handle.status().num_peers for handle in self._seeded.values() if handle is not None
        )


def _limit_every_peer(session: Any) -> None:
    # libtorrent puts peers on local networks (loopback and private ranges included) in a
    # peer class exempt from rate limits; a CDN node's upload limit is for all its traffic.
    everyone = 1 << int(lt.session.global_peer_class_id)
    rules = lt.ip_filter()
    rules.add_rule("0.0.0.0", "255.255.255.255", everyone)
    rules.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", everyone)
    session.set_peer_class_filter(rules)


def _without_trackers(torrent: bytes) -> Any:
    # The announce URL is the tracker's; a CDN node never announces (agents dial it directly).
    # Only the info dictionary decides the info-hashes, so dropping these keys is safe.
    decoded: Any = lt.bdecode(torrent)
    if not isinstance(decoded, dict):
        raise RuntimeError("not a bencoded dictionary")
    for key in (b"announce", b"announce-list"):
        decoded.pop(key, None)
    return lt.torrent_info(lt.bencode(decoded))


def _close(holder: list[Any]) -> None:
    # Dropping the last reference runs libtorrent's orderly shutdown, which may take a moment:
    # it happens here, in a worker thread, not on the event loop.
    holder[0].pause()
    holder.clear()
