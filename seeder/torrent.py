"""The private BitTorrent v2/hybrid torrent of a release.

The torrent's name is ``str(release)`` and each CDN node is a BEP 19 web seed at
``<cdn>/files/<game>/``, so a web seed request for file ``p`` is exactly
``/files/<game>/<release>/p``. The same build always gives the same torrent: no creation
date, no creator, files in path order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import libtorrent as lt

from seeder.build import BuildFile
from seeder.errors import PublishError
from signing import TorrentRef

MIN_PIECE = 256 * 1024
MAX_PIECE = 4 * 1024 * 1024
TARGET_PIECES = 1500


def piece_length_for(total_size: int) -> int:
    """A power of two between 256 KiB and 4 MiB giving roughly 1000-2000 pieces."""
    length = MIN_PIECE
    while length < MAX_PIECE and total_size // length > TARGET_PIECES:
        length *= 2
    return length


def web_seed_urls(cdn_urls: Sequence[str], game_id: str) -> list[str]:
    # The trailing slash matters: BEP 19 clients append "<name>/<path>" for multi-file torrents.
    return [f"{url.rstrip('/')}/files/{game_id}/" for url in cdn_urls]


def announce_url(tracker_public_url: str) -> str:
    return f"{tracker_public_url.rstrip('/')}/announce"


def create_release_torrent(
    files: Sequence[BuildFile],
    game_id: str,
    release: int,
    cdn_urls: Sequence[str],
    tracker_public_url: str,
    on_piece: Callable[[int], None] | None = None,
) -> TorrentRef:
    """Hash ``files`` into a torrent named ``str(release)`` and describe it as a TorrentRef.

    ``on_piece(bytes_hashed)`` is called as pieces are hashed (for progress bars).
    """
    name = str(release)
    total = sum(entry.size for entry in files)
    piece_length = piece_length_for(total)
    entries = [
        lt.create_file_entry(f"{name}/{entry.path}", entry.size, _file_flags(entry))
        for entry in files
    ]
    creator = lt.create_torrent(entries, piece_length)
    creator.set_priv(True)
    creator.add_tracker(announce_url(tracker_public_url))
    for url in web_seed_urls(cdn_urls, game_id):
        creator.add_url_seed(url)
    _hash_pieces(creator, files, name, on_piece)
    torrent: dict[bytes, Any] = creator.generate()
    # libtorrent stamps the current time; drop it so republishing gives identical bytes.
    torrent.pop(b"creation date", None)
    torrent.pop(b"created by", None)
    data: bytes = lt.bencode(torrent)
    info = lt.torrent_info(data)
    hashes = info.info_hashes()
    return TorrentRef(
        name=name,
        piece_length=piece_length,
        info_hash_v1=str(hashes.v1),
        info_hash_v2=str(hashes.v2),
        data=data,
    )


def _file_flags(entry: BuildFile) -> int:
    return int(lt.file_storage.flag_executable) if entry.mode & 0o111 else 0


def _hash_pieces(
    creator: Any, files: Sequence[BuildFile], name: str, on_piece: Callable[[int], None] | None
) -> None:
    # libtorrent reads "<parent>/<name>/<path>"; a staging folder of symlinks to the build's
    # files gives it that layout without copying a byte.
    piece_length = int(creator.piece_length())

    def piece_done(_: int) -> None:
        # Besides progress, this per-piece call back into Python is what lets other threads
        # run: libtorrent holds the GIL for the whole hashing otherwise.
        if on_piece is not None:
            on_piece(piece_length)

    with tempfile.TemporaryDirectory(prefix="peerpipe-torrent-") as staging:
        release_dir = Path(staging) / name
        for entry in files:
            link = release_dir / entry.path
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(entry.source, link)
        try:
            lt.set_piece_hashes(creator, staging, piece_done)
        except RuntimeError as exc:
            raise PublishError(f"hashing the release for its torrent failed: {exc}") from None
