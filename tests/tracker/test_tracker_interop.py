"""Real BitTorrent clients from Debian (aria2c, transmission-cli) through the private tracker.

A libtorrent session seeds a release and announces with its owner's passkey; each client then
downloads the release with another owner's passkey, and is refused with an unknown passkey or
for a game its owner does not have.

transmission refuses peers in 127.0.0.0/8 ("martian") and tests never leave loopback, so it
takes the bytes from the release's BEP 19 web seed (a CDN stand-in on 127.0.0.1) while
announcing through the tracker; the tracker's own swarm statistics show it was admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import libtorrent as lt
import pytest
from aiohttp import web
from ci_guard import unavailable
from tracker_loopback import (
    NOT_OWNER,
    OTHER_OWNER,
    OWNER,
    StartTracker,
    admin_headers,
    register_swarm,
)

from peerpipe.service import free_port, start_app
from peerpipe.torrent_session import session_settings
from tracker import RunningTracker

PAYLOAD_SIZE = 2 * 1024 * 1024 + 77
UNKNOWN_PASSKEY = "f" * 32


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        unavailable(f"{tool} is not installed (.ci/run installs it)")
    return path


class Release:
    """A v1 torrent over a release folder named ``1`` (transmission 3 and aria2 speak v1)."""

    def __init__(self, root: Path) -> None:
        self.seed_dir = root / "seed"
        content = self.seed_dir / "1"
        content.mkdir(parents=True)
        (content / "game.bin").write_bytes(os.urandom(PAYLOAD_SIZE))
        (content / "data").mkdir()
        (content / "data" / "level1.pak").write_bytes(os.urandom(300_000))
        self.files = {
            path.relative_to(self.seed_dir): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in content.rglob("*")
            if path.is_file()
        }
        creator = lt.create_torrent(
            lt.list_files(str(content)), 256 * 1024, lt.create_torrent.v1_only
        )
        creator.set_priv(True)
        lt.set_piece_hashes(creator, str(self.seed_dir))
        self.entry = creator.generate()
        self.info = lt.torrent_info(self.entry)
        self.info_hash = bytes.fromhex(str(self.info.info_hashes().v1))

    def torrent_file(self, path: Path, announce: str, web_seed: str | None = None) -> Path:
        entry = dict(self.entry)
        entry[b"announce"] = announce.encode()
        if web_seed is not None:
            entry[b"url-list"] = [web_seed.encode()]
        path.write_bytes(lt.bencode(entry))
        return path

    def complete_in(self, folder: Path) -> bool:
        for relative, digest in self.files.items():
            path = folder / relative
            if not path.is_file() or path.stat().st_size == 0:
                return False
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                return False
        return True


@pytest.fixture
async def seeded(
    tmp_path: Path, start_tracker: StartTracker, http: aiohttp.ClientSession
) -> AsyncIterator[tuple[RunningTracker, Release]]:
    tracker = await start_tracker(announce_interval=60, min_announce_interval=1)
    release = Release(tmp_path)
    await register_swarm(http, tracker.url, "game-1", release.info_hash)
    settings = session_settings()
    settings["ssrf_mitigation"] = False
    settings["stop_tracker_timeout"] = 1
    settings["listen_interfaces"] = f"127.0.0.1:{free_port()}"
    session = lt.session(settings)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(release.info)
    params.save_path = str(release.seed_dir)
    params.trackers = [f"{tracker.url}/{OWNER}/announce"]
    handle = session.add_torrent(params)
    deadline = time.monotonic() + 20
    while not handle.status().is_seeding:
        assert time.monotonic() < deadline, "the seed never finished checking"
        await asyncio.sleep(0.05)
    yield tracker, release
    session.pause()


async def run_client(
    argv: list[str], done: Path | None, seconds: float, said: str | None = None
) -> tuple[bool, str]:
    """Run a client until it exits, ``done`` exists or it ``said`` something (True), or
    ``seconds`` pass (False); and its output."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    output = bytearray()

    async def collect() -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            output.extend(chunk)

    reader = asyncio.create_task(collect())
    finished = False
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and process.returncode is None:
            if (done is not None and await asyncio.to_thread(done.exists)) or (
                said and said.encode() in output
            ):
                finished = True
                break
            await asyncio.sleep(0.1)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        await reader
    return finished or process.returncode == 0, output.decode(errors="replace")


def aria2c(torrent: Path, folder: Path, stop_after: int) -> list[str]:
    port = free_port()
    return [
        need("aria2c"),
        f"--dir={folder}",
        "--seed-time=0",
        "--enable-dht=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        f"--listen-port={port}",
        f"--bt-stop-timeout={stop_after}",
        "--summary-interval=0",
        "--console-log-level=notice",
        "--check-certificate=false",
        str(torrent),
    ]


async def test_aria2c_downloads_with_a_valid_passkey(
    tmp_path: Path, seeded: tuple[RunningTracker, Release]
) -> None:
    tracker, release = seeded
    torrent = release.torrent_file(tmp_path / "r.torrent", f"{tracker.url}/{OTHER_OWNER}/announce")
    folder = tmp_path / "aria2"
    ok, output = await run_client(aria2c(torrent, folder, stop_after=30), None, seconds=40)
    assert ok, output[-2000:]
    assert release.complete_in(folder), output[-2000:]


@pytest.mark.parametrize(
    ("passkey", "reason"),
    [(NOT_OWNER, "access denied: game not in library"), (UNKNOWN_PASSKEY, "unknown passkey")],
)
async def test_aria2c_is_refused_without_ownership(
    tmp_path: Path, seeded: tuple[RunningTracker, Release], passkey: str, reason: str
) -> None:
    tracker, release = seeded
    torrent = release.torrent_file(tmp_path / "r.torrent", f"{tracker.url}/{passkey}/announce")
    folder = tmp_path / "aria2"
    argv = aria2c(torrent, folder, stop_after=10)
    _, output = await run_client(argv, None, seconds=15, said=reason)
    assert reason in output, output[-2000:]
    assert not release.complete_in(folder)


def transmission(torrent: Path, folder: Path, config_dir: Path, finished: Path) -> list[str]:
    script = config_dir / "finished.sh"
    config_dir.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!/bin/sh\ntouch {finished}\n")
    script.chmod(0o755)
    # The seed speaks TCP only (uTP is off in PeerPipe's sessions); transmission tries uTP first.
    settings = {"utp-enabled": False, "dht-enabled": False, "lpd-enabled": False}
    (config_dir / "settings.json").write_text(json.dumps(settings))
    return [
        need("transmission-cli"),
        "-w",
        str(folder),
        "-g",
        str(config_dir),
        "-p",
        str(free_port()),
        "-M",
        "-et",
        "-f",
        str(script),
        str(torrent),
    ]


@pytest.fixture
async def web_seed(seeded: tuple[RunningTracker, Release]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_static("/", seeded[1].seed_dir)
    node = await start_app(app)
    yield f"{node.url}/"
    await node.stop()


async def swarm_peers(http: aiohttp.ClientSession, tracker: RunningTracker, info: bytes) -> int:
    async with http.get(f"{tracker.url}/api/v1/admin/swarms", headers=admin_headers()) as reply:
        swarms = (await reply.json())["items"]
    stats = [swarm["stats"][info.hex()] for swarm in swarms if info.hex() in swarm["stats"]]
    return int(stats[0]["complete"]) + int(stats[0]["incomplete"]) if stats else 0


async def test_transmission_downloads_with_a_valid_passkey(
    tmp_path: Path,
    seeded: tuple[RunningTracker, Release],
    web_seed: str,
    http: aiohttp.ClientSession,
) -> None:
    tracker, release = seeded
    announce = f"{tracker.url}/{OTHER_OWNER}/announce"
    torrent = release.torrent_file(tmp_path / "r.torrent", announce, web_seed)
    folder = tmp_path / "transmission"
    folder.mkdir()
    finished = tmp_path / "finished"
    argv = transmission(torrent, folder, tmp_path / "tr-config", finished)
    client = asyncio.create_task(run_client(argv, finished, seconds=40))
    most_peers = 0
    while not client.done():
        most_peers = max(most_peers, await swarm_peers(http, tracker, release.info_hash))
        await asyncio.sleep(0.1)
    ok, output = await client
    assert ok, output[-2000:]
    assert release.complete_in(folder), output[-2000:]
    assert most_peers >= 2, "the tracker never listed transmission beside the seed"


async def test_transmission_is_refused_for_an_unowned_game(
    tmp_path: Path, seeded: tuple[RunningTracker, Release]
) -> None:
    tracker, release = seeded
    torrent = release.torrent_file(tmp_path / "r.torrent", f"{tracker.url}/{NOT_OWNER}/announce")
    folder = tmp_path / "transmission"
    folder.mkdir()
    argv = transmission(torrent, folder, tmp_path / "tr-config", tmp_path / "finished")
    reason = "access denied: game not in library"
    _, output = await run_client(argv, None, seconds=15, said=reason)
    assert reason in output, output[-2000:]
    assert not release.complete_in(folder)
