"""One CDN node seeds hundreds of releases at once, within its upload rate limit."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import libtorrent as lt
from seeder_helpers import random_bytes, wait_for, wait_for_files

from peerpipe.config import Config
from peerpipe.torrent_session import session_settings
from seeder import BuildFile, LocalOrigin, create_release_torrent
from seeder.seeding import ReleaseSeeder

RELEASES = 200
GAMES = 20
RATE_LIMIT = 400_000  # bytes per second
BIG = random_bytes(400_000, 31)


def _store_release(origin: LocalOrigin, game_id: str, release: int, data: bytes) -> bytes:
    """Put one single-file release in the origin as the publish pipeline lays it out."""
    source = origin.root.parent / "builds" / game_id / str(release) / "data.bin"
    source.parent.mkdir(parents=True)
    source.write_bytes(data)
    files = [BuildFile("data.bin", source, len(data), 0o644)]
    torrent = create_release_torrent(files, game_id, release, [], "http://tracker.invalid")
    target = origin.release_dir(game_id, release) / "data.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    origin.put_torrent(game_id, release, torrent.data)
    return torrent.data


async def test_hundreds_of_releases_are_seeded_within_the_upload_limit(
    config: Config, tmp_path: Path
) -> None:
    origin = LocalOrigin(config.seeder.origin_dir)
    for index in range(RELEASES - 1):
        _store_release(origin, f"game-{index % GAMES}", index // GAMES + 1, b"tiny %d" % index)
    big = _store_release(origin, "big-game", 1, BIG)
    limited = replace(config.seeder, upload_rate_limit=RATE_LIMIT)
    seeder = ReleaseSeeder(origin, limited)
    started = time.monotonic()
    await seeder.start()
    client: Any = lt.session(session_settings())  # type: ignore[arg-type]
    try:
        assert len(seeder.seeded_releases) == RELEASES
        assert time.monotonic() - started < 20
        decoded = lt.bdecode(big)
        decoded.pop(b"announce")
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(decoded)
        params.save_path = str(tmp_path / "player")
        handle = client.add_torrent(params)
        assert seeder.listen_port is not None
        handle.connect_peer(("127.0.0.1", seeder.listen_port))
        fetch_started = time.monotonic()
        await wait_for(lambda: bool(handle.status().is_seeding), within=30, what="the download")
        elapsed = time.monotonic() - fetch_started
        await wait_for_files(tmp_path / "player" / "1", {"data.bin": BIG})
    finally:
        client.pause()
        await seeder.stop()
    # 400 kB at 400 kB/s: about a second, even on loopback (minus libtorrent's first burst).
    assert elapsed >= 0.6
