"""The agent's one libtorrent session: joining release swarms and sampling connections.

libtorrent calls here return quickly (they post to libtorrent's own network thread), so they
run on the event loop; disk-heavy work stays inside libtorrent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import libtorrent as lt

from peerpipe.config import AgentConfig
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


class Swarms:
    """One libtorrent session for every release this agent downloads or seeds."""

    def __init__(self, agent: AgentConfig) -> None:
        settings = session_settings(
            listen_host="127.0.0.1",
            listen_port=0,
            upload_rate_limit=agent.upload_rate_limit,
            download_rate_limit=agent.download_rate_limit,
        )
        # libtorrent refuses loopback trackers whose path is not exactly "/announce" (SSRF
        # mitigation against URLs planted in torrents). Ours is "/<passkey>/announce" and comes
        # from the agent's configuration, never from a torrent (override_trackers), so the
        # mitigation only stops single-machine networks from working.
        settings["ssrf_mitigation"] = False
        # shutting down waits this long for the trackers' answers to "stopped" announces
        settings["stop_tracker_timeout"] = 1
        self._session: lt.session | None = lt.session(
            lt.session_params(cast("lt.settings_pack", settings))
        )

    @property
    def _active(self) -> lt.session:
        if self._session is None:
            raise RuntimeError("the libtorrent session is closed")
        return self._session

    @property
    def listen_port(self) -> int:
        return int(self._active.listen_port())

    def join(
        self, manifest: Manifest, save_path: Path, announce_url: str, web_seeds: Iterable[str]
    ) -> Any:
        """Add the release's torrent: our passkey tracker only, the torrent's web seeds plus
        ``web_seeds``. Files land at ``save_path/<release>/<path>``."""
        params = lt.add_torrent_params()
        params.ti = torrent_info_for(manifest)
        params.save_path = str(save_path)
        params.trackers = [announce_url]
        params.url_seeds = list(web_seeds)
        # the publisher's announce URLs carry no passkey: only ours may be used
        params.flags = (params.flags | lt.torrent_flags.override_trackers) & ~(
            lt.torrent_flags.paused
        )
        return self._active.add_torrent(params)

    def connect(self, handle: Any, endpoints: Iterable[tuple[str, int]]) -> None:
        for endpoint in endpoints:
            handle.connect_peer(endpoint)

    def sample(self, handle: Any, cdn_endpoints: set[tuple[str, int]]) -> list[ConnectionSample]:
        """The handle's live connections, each classified as a peer or a CDN source."""
        samples = []
        for peer in handle.get_peer_info():
            kind = int(peer.connection_type)
            host, port = peer.ip[0], int(peer.ip[1])
            is_cdn = kind in _CDN_CONNECTIONS or (host, port) in cdn_endpoints
            samples.append(
                ConnectionSample(
                    key=(str(kind), host, port),
                    source=Source.CDN if is_cdn else Source.PEER,
                    total_download=int(peer.total_download),
                )
            )
        return samples

    def drain_alerts(self) -> None:
        """Pop pending alerts so the queue never fills; errors go to the log."""
        for alert in self._active.pop_alerts():
            if type(alert).__name__ in _ERROR_ALERTS:
                log.warning(
                    "libtorrent: %s", alert.message(), extra=fields(alert=type(alert).__name__)
                )

    def remove(self, handle: Any) -> None:
        self._active.remove_torrent(handle)

    def close(self) -> None:
        """Remove every torrent and destroy the session (blocking: run it in a thread)."""
        session, self._session = self._session, None
        if session is None:
            return
        for handle in session.get_torrents():
            session.remove_torrent(handle)
        session.pop_alerts()
        del session  # the last reference: libtorrent shuts down here, off the event loop


def torrent_failure(status: Any) -> str | None:
    """libtorrent's fatal error for a torrent, if it has one."""
    errc = status.errc
    if errc.value() != 0:
        return f"libtorrent: {errc.message()} ({status.error_file})"
    return None
