"""The agent's one libtorrent session: joining release swarms, sampling connections, alerts.

libtorrent calls here return quickly (they post to libtorrent's own network thread), so they
run on the event loop; disk-heavy work stays inside libtorrent.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, cast

import libtorrent as lt

from peerpipe.logs import fields
from peerpipe.torrent_session import session_settings

from .accounting import ConnectionSample, Source
from .errors import TorrentError
from .release import Manifest

log = logging.getLogger("peerpipe.peer.swarm")

_CDN_CONNECTIONS = (lt.peer_info.web_seed, lt.peer_info.http_seed)
_ERROR_ALERTS = ("torrent_error_alert", "file_error_alert", "tracker_error_alert")


def torrent_info_for(manifest: Manifest) -> Any:
    """The manifest's torrent, checked against the info-hashes the manifest signs."""
    try:
        info = lt.torrent_info(manifest.torrent.data)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise TorrentError(f"the manifest's torrent cannot be read: {exc}") from None
    hashes = info.info_hashes()
    if str(hashes.v1) != manifest.torrent.info_hash_v1 or str(hashes.v2) != (
        manifest.torrent.info_hash_v2
    ):
        raise TorrentError("the manifest's torrent does not match its signed info-hashes")
    if info.name() != str(manifest.release):
        raise TorrentError(f"torrent name {info.name()!r} is not the release {manifest.release}")
    return info


def limit_local_peers(
    session: Any, cdn_hosts: frozenset[str] = frozenset(), cdn_class: int | None = None
) -> None:
    """Put every address, local ones included, in the global peer class, and the CDN nodes'
    addresses in ``cdn_class`` as well.

    libtorrent exempts peers on local networks (127/8, 10/8, 192.168/16, ...) from rate
    limits by default; the player's limits are about their whole link, so they must apply
    to LAN peers and to CDN nodes on the same network too.
    """
    everyone = lt.ip_filter()
    global_class = 1 << int(session.global_peer_class_id)
    everyone.add_rule("0.0.0.0", "255.255.255.255", global_class)
    everyone.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", global_class)
    if cdn_class is not None:
        for host in cdn_hosts:
            everyone.add_rule(host, host, global_class | 1 << cdn_class)
    session.set_peer_class_filter(everyone)


class TorrentPieces:
    """Which bytes of a release's files sit in pieces libtorrent has verified (a
    ``verify.PieceMap``, used from the check's worker thread: libtorrent's handle calls are
    safe from any thread)."""

    def __init__(self, handle: Any) -> None:
        info = handle.torrent_file()
        files = info.layout()
        self._handle = handle
        self._piece_length = int(info.piece_length())
        self._starts: dict[str, int] = {}  # release path -> offset in the torrent
        for index in range(files.num_files()):
            if files.file_flags(index) & lt.file_storage.flag_pad_file:
                continue
            path = PurePath(files.file_path(index)).relative_to(info.name()).as_posix()
            self._starts[path] = int(files.file_offset(index))
        # a snapshot of the verified pieces, taken again only when it falls behind: a piece
        # once verified stays so, and the bitfield of a large release is costly to copy
        self._have: list[bool] = []

    @property
    def order(self) -> list[str]:
        """Release paths in the torrent's order."""
        return list(self._starts)

    def verified_end(self, path: str, offset: int) -> int:
        start = self._starts[path]
        piece = first = (start + offset) // self._piece_length
        if not self._handle.have_piece(first):
            return offset
        if first >= len(self._have) or not self._have[first]:
            self._have = list(self._handle.status(lt.torrent_handle.query_pieces).pieces)
        while piece < len(self._have) and self._have[piece]:
            piece += 1
        return max(offset, piece * self._piece_length - start)


def torrent_key(handle: Any) -> str:
    """The v1 info-hash: how alerts are matched to downloads."""
    return str(handle.info_hashes().v1)


@dataclass(frozen=True)
class SwarmEvent:
    """An alert the engine acts on: resume data to store, a web seed that failed, a ban."""

    kind: str  # "resume_data" | "cache_flushed" | "web_seed_failed" | "peer_banned"
    torrent: str
    data: bytes = b""
    url: str = ""


@dataclass
class ConnectionPoll:
    """One pass over a download's connections."""

    samples: list[ConnectionSample] = field(default_factory=list)
    swarm_samples: list[ConnectionSample] = field(default_factory=list)  # BitTorrent only
    peer_hosts: set[str] = field(default_factory=set)  # addresses of non-CDN peers
    web_seed_rate: int = 0
    swarm_bitfields: list[list[bool]] = field(default_factory=list)
    peer_bitfields: list[list[bool]] = field(default_factory=list)  # other players only


class Swarms:
    """One libtorrent session for every release this agent downloads or seeds."""

    listen_host = "127.0.0.1"

    def __init__(self, download_rate_limit: int = 0, upload_rate_limit: int = 0) -> None:
        settings = session_settings(
            listen_host=self.listen_host,
            listen_port=0,
            upload_rate_limit=upload_rate_limit,
            download_rate_limit=download_rate_limit,
        )
        # libtorrent refuses loopback trackers whose path is not exactly "/announce" (SSRF
        # mitigation against URLs planted in torrents). Ours is "/<passkey>/announce" and comes
        # from the agent's configuration, never from a torrent (override_trackers), so the
        # mitigation only stops single-machine networks from working.
        settings["ssrf_mitigation"] = False
        # shutting down waits this long for the trackers' answers to "stopped" announces
        settings["stop_tracker_timeout"] = 1
        # a peer that sent data failing a hash check is banned on its second offence
        settings["max_failcount"] = 2
        # libtorrent keeps this many seconds of a connection's rate in requests (3 by default).
        # Players who start together ask the CDN's seed for the pieces nobody holds yet; every
        # request in flight is one another player may duplicate before our piece is announced,
        # so a shorter queue means fewer pieces the CDN sends twice (bench/agent.py,
        # scenario 2). A second still covers any round trip.
        settings["request_queue_time"] = 1
        self._session: lt.session | None = lt.session(
            lt.session_params(cast("lt.settings_pack", settings))
        )
        limit_local_peers(self._session)
        self._cdn_class = int(self._session.create_peer_class("cdn"))
        self._cdn_hosts: frozenset[str] = frozenset()
        self._cdn_limit = 0

    @property
    def _active(self) -> lt.session:
        if self._session is None:
            raise RuntimeError("the libtorrent session is closed")
        return self._session

    @property
    def listen_port(self) -> int:
        return int(self._active.listen_port())

    def set_rate_limits(self, download: int, upload: int) -> None:
        self._active.apply_settings({"download_rate_limit": download, "upload_rate_limit": upload})

    def mark_cdn_hosts(self, hosts: frozenset[str]) -> None:
        """The addresses whose connections count against the CDN intake limit; only CDN
        nodes with addresses of their own (no peer shares them) may be listed."""
        if hosts != self._cdn_hosts:
            self._cdn_hosts = hosts
            limit_local_peers(self._active, hosts, self._cdn_class)

    def set_cdn_download_limit(self, limit: int) -> None:
        """Bytes/s this agent takes from CDN nodes (0: no limit), web seeds included."""
        if limit != self._cdn_limit:
            self._cdn_limit = limit
            info: Any = dict(self._active.get_peer_class(self._cdn_class))
            info["download_limit"] = limit
            self._active.set_peer_class(self._cdn_class, info)
            log.info("CDN intake limit", extra=fields(limit=limit, hosts=sorted(self._cdn_hosts)))

    def join(
        self,
        manifest: Manifest,
        save_path: Path,
        announce_url: str | None,
        resume_data: bytes | None = None,
    ) -> Any:
        """Add the release's torrent with our passkey tracker only and no web seeds (the
        offload controller adds them). Files land at ``save_path/<release>/<path>``."""
        params = lt.add_torrent_params()
        if resume_data:
            try:
                params = lt.read_resume_data(resume_data)
            except (RuntimeError, ValueError) as exc:
                log.warning("resume data unusable", extra=fields(error=str(exc)))
        params.ti = torrent_info_for(manifest)
        params.save_path = str(save_path)
        params.trackers = [announce_url] if announce_url else []
        params.url_seeds = []
        # the publisher's announce and web seed URLs are not ours to use blindly
        flags = params.flags | lt.torrent_flags.override_trackers
        flags |= lt.torrent_flags.override_web_seeds
        flags &= ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed
        params.flags = flags
        return self._active.add_torrent(params)

    def rejoin(self, resume_data: bytes, save_path: Path, announce_url: str | None) -> Any:
        """Seed an installed release again from its resume data (which holds the torrent we
        verified when installing it)."""
        try:
            params = lt.read_resume_data(resume_data)
        except (RuntimeError, ValueError) as exc:
            raise TorrentError(f"resume data unusable: {exc}") from None
        if params.ti is None:
            raise TorrentError("resume data without the torrent")
        params.save_path = str(save_path)
        params.trackers = [announce_url] if announce_url else []
        params.url_seeds = []
        flags = params.flags | lt.torrent_flags.override_trackers
        flags |= lt.torrent_flags.override_web_seeds
        params.flags = flags & ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed
        return self._active.add_torrent(params)

    def set_web_seeds(self, handle: Any, urls: Iterable[str]) -> None:
        wanted = set(urls)
        present = set(handle.url_seeds())
        for url in present - wanted:
            handle.remove_url_seed(url)
        for url in wanted - present:
            handle.add_url_seed(url)

    def set_sequential(self, handle: Any, sequential: bool) -> None:
        """Fetch pieces in order (True) or rarest first (False)."""
        flag = lt.torrent_flags.sequential_download
        if sequential:
            handle.set_flags(flag)
        else:
            handle.unset_flags(flag)

    def connect(self, handle: Any, endpoints: Iterable[tuple[str, int]]) -> None:
        for endpoint in endpoints:
            handle.connect_peer(endpoint)

    def poll(self, handle: Any, cdn_endpoints: set[tuple[str, int]]) -> ConnectionPoll:
        """The handle's live connections, each classified as a peer or a CDN source."""
        result = ConnectionPoll()
        for peer in handle.get_peer_info():
            kind = int(peer.connection_type)
            host, port = peer.ip[0], int(peer.ip[1])
            web_seed = kind in _CDN_CONNECTIONS
            is_cdn = web_seed or (host, port) in cdn_endpoints
            sample = ConnectionSample(
                key=(str(kind), host, port),
                source=Source.CDN if is_cdn else Source.PEER,
                total_download=int(peer.total_download),
            )
            result.samples.append(sample)
            if not is_cdn:
                result.peer_hosts.add(host)
            if web_seed:
                result.web_seed_rate += int(peer.payload_down_speed)
            else:
                result.swarm_samples.append(sample)
                pieces = list(peer.pieces)
                if is_cdn:  # a CDN node seeds every piece, even while it reveals few of them
                    pieces = [True] * len(pieces)  # (super-seeding)
                else:
                    result.peer_bitfields.append(pieces)
                result.swarm_bitfields.append(pieces)
        return result

    def pop_events(self) -> list[SwarmEvent]:
        """Pop pending alerts so the queue never fills; errors go to the log."""
        events = []
        alert: Any
        for alert in self._active.pop_alerts():
            name = type(alert).__name__
            if name == "save_resume_data_alert":
                data = bytes(lt.write_resume_data_buf(alert.params))
                events.append(SwarmEvent("resume_data", torrent_key(alert.handle), data))
            elif name == "cache_flushed_alert":
                events.append(SwarmEvent("cache_flushed", torrent_key(alert.handle)))
            elif name == "url_seed_alert":
                events.append(
                    SwarmEvent(
                        "web_seed_failed", torrent_key(alert.handle), url=str(alert.server_url())
                    )
                )
            elif name == "peer_ban_alert":
                events.append(SwarmEvent("peer_banned", torrent_key(alert.handle)))
            if name in _ERROR_ALERTS or name in ("url_seed_alert", "peer_ban_alert"):
                log.warning("libtorrent: %s", alert.message(), extra=fields(alert=name))
        return events

    def remove(self, handle: Any, delete_files: bool = False) -> None:
        if delete_files:
            self._active.remove_torrent(handle, lt.session.delete_files)
        else:
            self._active.remove_torrent(handle)

    async def remove_with_files(self, handle: Any, deadline: float = 10.0) -> None:
        """Remove a torrent and its files, returning once the files are gone: libtorrent
        deletes them later on its disk thread, and a player who uninstalled a game expects
        its folder gone when the request returns."""
        status = handle.status()
        root = Path(status.save_path) / status.name
        hashes = handle.info_hashes()
        self._active.remove_torrent(handle, lt.session.delete_files)
        async with asyncio.timeout(deadline):
            while self._active.find_torrent(hashes.v1).is_valid():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        await asyncio.to_thread(shutil.rmtree, root, True)

    async def remove_and_wait(self, handle: Any, deadline: float = 10.0) -> None:
        """Remove a torrent and wait until the session no longer knows it."""
        hashes = handle.info_hashes()
        self._active.remove_torrent(handle)
        async with asyncio.timeout(deadline):
            # libtorrent removes on its own thread and signals only through an alert
            while self._active.find_torrent(hashes.v1).is_valid():  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    def close(self) -> None:
        """Remove every torrent and destroy the session (blocking: run it in a thread)."""
        session, self._session = self._session, None
        if session is None:
            return
        for handle in session.get_torrents():
            session.remove_torrent(handle)
        session.pop_alerts()
        del session  # the last reference: libtorrent shuts down here, off the event loop


def flush_to_disk(handle: Any) -> None:
    """Ask libtorrent to write what it holds of the torrent to its files (a
    ``cache_flushed`` event follows once everything it held when asked is written)."""
    handle.flush_cache()


def request_resume_data(handle: Any) -> None:
    """Ask libtorrent for resume data (it arrives as a ``resume_data`` event)."""
    handle.save_resume_data(lt.torrent_handle.save_info_dict | lt.torrent_handle.flush_disk_cache)


def torrent_failure(status: Any) -> str | None:
    """libtorrent's fatal error for a torrent, if it has one."""
    errc = status.errc
    if errc.value() != 0:
        return f"libtorrent: {errc.message()} ({status.error_file})"
    return None
