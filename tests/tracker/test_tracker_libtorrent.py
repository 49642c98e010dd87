"""A real BitTorrent client (libtorrent 2.1) announces to the tracker and parses its replies."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import libtorrent as lt
import pytest
from tracker_loopback import (
    NOT_OWNER,
    OTHER_OWNER,
    OWNER,
    StartTracker,
    admin_headers,
    register_swarm,
)

from peerpipe.service import free_port
from peerpipe.torrent_session import session_settings

PAYLOAD_SIZE = 3 * 1024 * 1024 + 123


def make_torrent(data_dir: Path) -> lt.torrent_info:
    content = data_dir / "1"
    content.mkdir(parents=True)
    (content / "game.bin").write_bytes(os.urandom(PAYLOAD_SIZE))
    (content / "readme.txt").write_bytes(b"hello from the tracker tests\n")
    # Paths in list_files() are relative to the folder's parent, so the torrent's name is "1".
    creator = lt.create_torrent(lt.list_files(str(content)), 256 * 1024)  # hybrid v1 + v2
    creator.set_priv(True)
    lt.set_piece_hashes(creator, str(data_dir))
    return lt.torrent_info(creator.generate())


@pytest.fixture
async def sessions() -> AsyncIterator[Callable[[], lt.session]]:
    started: list[lt.session] = []

    def start() -> lt.session:
        settings = session_settings()
        # libtorrent's SSRF mitigation refuses loopback trackers whose path does not start with
        # /announce; the contract's /<passkey>/announce is only ever on loopback in tests.
        settings["ssrf_mitigation"] = False
        settings["alert_mask"] |= lt.alert_category.tracker
        # Closing a session waits this long for its "stopped" announces (default 5 s).
        settings["stop_tracker_timeout"] = 1
        session = lt.session(settings)
        started.append(session)
        return session

    yield start
    # A closing session blocks on its "stopped" announces, which the tracker answers on this
    # event loop: close sessions in another thread.
    for session in started:
        session.pause()
    await asyncio.to_thread(started.clear)


def join(
    session: lt.session, torrent: lt.torrent_info, tracker_url: str, passkey: str, save: Path
) -> lt.torrent_handle:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = str(save)
    params.trackers = [f"{tracker_url}/{passkey}/announce"]
    return session.add_torrent(params)


async def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_libtorrent_downloads_from_a_peer_the_tracker_introduced(
    tmp_path: Path,
    start_tracker: StartTracker,
    http: aiohttp.ClientSession,
    sessions: Callable[[], lt.session],
) -> None:
    tracker = await start_tracker()
    torrent = make_torrent(tmp_path / "seed")
    hashes = torrent.info_hashes()
    assert hashes.has_v1() and hashes.has_v2()
    v1 = bytes.fromhex(str(hashes.v1))
    v2 = bytes.fromhex(str(hashes.v2))
    await register_swarm(http, tracker.url, "game-1", v1, v2)

    seeder = join(sessions(), torrent, tracker.url, OWNER, tmp_path / "seed")
    await wait_for(lambda: seeder.status().is_seeding, "the seeder to check its files")
    leecher = join(sessions(), torrent, tracker.url, OTHER_OWNER, tmp_path / "leech")
    await wait_for(lambda: leecher.status().is_seeding, "the leecher to download from the seeder")
    status = leecher.status()
    # Every piece passed libtorrent's hash check, and the bytes came from the seeder.
    assert status.total_wanted_done == status.total_wanted > PAYLOAD_SIZE
    assert status.total_payload_download >= PAYLOAD_SIZE

    async def wait_for_seeders(count: int, what: str) -> None:
        deadline = time.monotonic() + 15
        while True:
            async with http.get(f"{tracker.url}/api/v1/admin/swarms", headers=admin_headers()) as r:
                stats = (await r.json())["items"][0]["stats"]
            found = [(s["complete"], s["incomplete"]) for s in stats.values()]
            if found == [(count, 0), (count, 0)]:
                return
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {found}"
            await asyncio.sleep(0.05)

    # Both peers seed, each announced under the v1 and the truncated v2 info-hash.
    await wait_for_seeders(2, "the leecher to announce its completion")


async def test_libtorrent_shows_the_failure_reason_to_a_non_owner(
    tmp_path: Path,
    start_tracker: StartTracker,
    http: aiohttp.ClientSession,
    sessions: Callable[[], lt.session],
) -> None:
    tracker = await start_tracker()
    torrent = make_torrent(tmp_path / "seed")
    hashes = torrent.info_hashes()
    await register_swarm(
        http, tracker.url, "game-1", bytes.fromhex(str(hashes.v1)), bytes.fromhex(str(hashes.v2))
    )
    session = sessions()
    join(session, torrent, tracker.url, NOT_OWNER, tmp_path / "leech")
    reasons: list[str] = []

    def refused() -> bool:
        for alert in session.pop_alerts():
            if isinstance(alert, lt.tracker_error_alert):
                reasons.append(alert.failure_reason())
        return any("game not in library" in reason for reason in reasons)

    await wait_for(refused, "libtorrent to report the tracker's failure reason")
    assert "access denied: game not in library" in reasons


async def test_libtorrent_announces_over_udp_with_the_passkey_as_url_data(
    tmp_path: Path,
    start_tracker: StartTracker,
    http: aiohttp.ClientSession,
    sessions: Callable[[], lt.session],
) -> None:
    udp_port = free_port(kind=socket.SOCK_DGRAM)
    tracker = await start_tracker(udp_port=udp_port)
    torrent = make_torrent(tmp_path / "seed")
    hashes = torrent.info_hashes()
    await register_swarm(
        http, tracker.url, "game-1", bytes.fromhex(str(hashes.v1)), bytes.fromhex(str(hashes.v2))
    )
    udp_url = f"udp://127.0.0.1:{udp_port}"
    seeder = join(sessions(), torrent, udp_url, OWNER, tmp_path / "seed")
    await wait_for(lambda: seeder.status().is_seeding, "the seeder to check its files")
    leecher = join(sessions(), torrent, udp_url, OTHER_OWNER, tmp_path / "leech")
    await wait_for(lambda: leecher.status().is_seeding, "the leecher to download over UDP")
    refused_session = sessions()
    outsider = join(refused_session, torrent, udp_url, NOT_OWNER, tmp_path / "refused")
    errors: list[lt.tracker_error_alert] = []

    def refused() -> bool:
        errors.extend(
            alert
            for alert in refused_session.pop_alerts()
            if isinstance(alert, lt.tracker_error_alert)
        )
        return bool(errors)

    # libtorrent 2.0 reports a UDP tracker's error packet without its text (our own UDP
    # client test reads the text); the refusal shows as a tracker failure and no peers.
    await wait_for(refused, "libtorrent to report the UDP tracker's error")
    assert "failure" in errors[0].message()
    assert outsider.status().num_peers == 0
