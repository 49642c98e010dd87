"""Builders for the agent's tests (a plain module: conftest holds fixtures): a signed build,
seeders, and the library, tracker and CDN endpoints of a small loopback network."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import aiohttp
import libtorrent as lt
from aiohttp import web

from peer import ENGINE, Engine, Manifest, ReleaseSource, ReleaseUnavailable, create_app
from peer.swarm import limit_local_peers
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from peerpipe.torrent_session import session_settings
from signing import (
    ChunkRef,
    ManifestFile,
    ReleaseManifest,
    TorrentRef,
    TrustRepository,
    generate_key,
    load_public_key,
    load_signer,
    public_key_path,
    save_private_key,
)

GAME = "space-game"
RELEASE = 1
PLATFORM_KEY = "test-platform-key-of-at-least-32-bytes"
PIECE_LENGTH = 64 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TorrentEntry:
    name: str
    info_hash_v1: str
    info_hash_v2: str
    data: bytes


@dataclass(frozen=True)
class BuiltRelease:
    """A release as the agent sees it (what ``signing.ReleaseManifest`` offers) plus its build."""

    game_id: str
    version: str
    release: int
    total_size: int
    files: tuple[FileEntry, ...]
    torrent: TorrentEntry
    build_dir: Path  # holds <release>/<path>


def make_build(root: Path, files: dict[str, int], game_id: str = GAME) -> BuiltRelease:
    release_dir = root / str(RELEASE)
    entries = []
    for path, size in files.items():
        target = release_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size)
        target.write_bytes(data)
        entries.append(FileEntry(path, size, hashlib.sha256(data).hexdigest()))
    creator = lt.create_torrent(lt.list_files(str(release_dir)), PIECE_LENGTH)  # v1 + v2
    lt.set_piece_hashes(creator, str(root))
    data = lt.bencode(creator.generate())
    hashes = lt.torrent_info(data).info_hashes()
    torrent = TorrentEntry(str(RELEASE), str(hashes.v1), str(hashes.v2), data)
    return BuiltRelease(
        game_id, "1.0.0", RELEASE, sum(e.size for e in entries), tuple(entries), torrent, root
    )


class Seeder:
    """A libtorrent session seeding one release from its build directory."""

    def __init__(self, release: BuiltRelease, upload_rate_limit: int) -> None:
        self.session = lt.session(
            lt.session_params(
                cast("lt.settings_pack", session_settings(upload_rate_limit=upload_rate_limit))
            )
        )
        limit_local_peers(self.session)  # rate limits apply on loopback too
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(release.torrent.data)
        params.save_path = str(release.build_dir)
        self.handle = self.session.add_torrent(params)

    @property
    def port(self) -> int:
        return int(self.session.listen_port())

    async def until_seeding(self) -> None:
        async with asyncio.timeout(20):
            while not self.handle.status().is_seeding:
                self.session.pop_alerts()
                await asyncio.sleep(0.05)

    def close(self) -> None:
        self.session.pause()
        self.session.remove_torrent(self.handle)


@dataclass
class LibraryStub:
    """The library API's user endpoints the agent calls, over real HTTP."""

    owned: set[str] = field(default_factory=set)
    statuses: list[tuple[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/library/passkey", self.passkey)
        app.router.add_get("/api/v1/library/{game_id}", self.entry)
        app.router.add_patch("/api/v1/library/{game_id}", self.report)
        return app

    async def passkey(self, _: web.Request) -> web.Response:
        return web.json_response({"passkey": "ab" * 16})

    async def entry(self, request: web.Request) -> web.Response:
        game_id = request.match_info["game_id"]
        if game_id not in self.owned:
            body = {"title": "Not Found", "status": 404, "code": "GAME_NOT_IN_LIBRARY"}
            return web.json_response(body, status=404, content_type="application/problem+json")
        return web.json_response({"game_id": game_id, "installation_status": "uninstalled"})

    async def report(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.statuses.append((request.match_info["game_id"], body["installation_status"]))
        return web.json_response({})


def tracker_app(peers: list[tuple[str, int]]) -> web.Application:
    """An announce endpoint that hands out ``peers`` (compact, BEP 23)."""

    async def announce(_: web.Request) -> web.Response:
        compact = b"".join(socket.inet_aton(host) + struct.pack(">H", port) for host, port in peers)
        body = b"d8:intervali60e5:peers" + str(len(compact)).encode() + b":" + compact + b"e"
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{passkey}/announce", announce)
    return app


def signed_manifest(release: BuiltRelease) -> ReleaseManifest:
    """The build's manifest as the publish pipeline writes it (one chunk per file)."""
    return ReleaseManifest(
        game_id=release.game_id,
        version=release.version,
        release=release.release,
        created="2026-11-23T05:00:00+00:00",
        total_size=release.total_size,
        files=tuple(
            ManifestFile(
                path=entry.path,
                size=entry.size,
                mode=0o644,
                sha256=entry.sha256,
                chunks=(ChunkRef(entry.sha256, 0, entry.size),) if entry.size else (),
            )
            for entry in release.files
        ),
        torrent=TorrentRef(
            name=release.torrent.name,
            piece_length=PIECE_LENGTH,
            info_hash_v1=release.torrent.info_hash_v1,
            info_hash_v2=release.torrent.info_hash_v2,
            data=release.torrent.data,
        ),
    )


def publish(release: BuiltRelease, trust_dir: Path, keys_dir: Path) -> bytes:
    """Sign ``release`` into a new trust repository; returns the root to pin."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    signers = []
    for name in ("admin", "publisher"):
        save_private_key(generate_key(), keys_dir / f"{name}.pem", passphrase=None)
        signers.append(load_signer(keys_dir / f"{name}.pem", passphrase=None))
    admin, publisher = signers
    repository = TrustRepository(trust_dir)
    repository.init([admin])
    publisher_key = load_public_key(public_key_path(keys_dir / "publisher.pem"))
    repository.add_publisher("publisher", publisher_key, [release.game_id], [admin])
    repository.publish_release(signed_manifest(release), publisher)
    return repository.trusted_root()


def cdn_app(
    release: BuiltRelease, trust_dir: Path, bt_port: int | None, bytes_per_second: int
) -> web.Application:
    """A CDN node: ``/health`` with its BitTorrent port, trust metadata and signed targets,
    and a throttled BEP 19 web seed."""
    return CdnStub({release.game_id: release}, bytes_per_second, bt_port, trust_dir).app()


@dataclass
class CdnStub:
    """A CDN node over real HTTP: ``/health``, a throttled BEP 19 web seed that counts the
    bytes it serves, and (with ``trust_dir``) trust metadata and signed targets. With
    ``broken`` its web seed answers 503."""

    releases: dict[str, BuiltRelease]
    bytes_per_second: int
    bt_port: int | None = None
    trust_dir: Path | None = None
    region: str = "test"
    broken: bool = False
    served: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        if self.trust_dir is not None:
            app.router.add_static("/metadata/", self.trust_dir / "metadata")
            app.router.add_static("/targets/", self.trust_dir / "targets")
        app.router.add_get("/files/{game_id}/{tail:.+}", self.files)
        return app

    async def health(self, _: web.Request) -> web.Response:
        body = {"status": "ok", "region": self.region, "bt_port": self.bt_port}
        return web.json_response(body)

    async def files(self, request: web.Request) -> web.StreamResponse:
        release = self.releases.get(request.match_info["game_id"])
        if self.broken or release is None:
            return web.Response(status=503 if self.broken else 404)
        target = release.build_dir / request.match_info["tail"]
        size = target.stat().st_size
        start, end = 0, size - 1
        if request.http_range.start is not None:
            start = request.http_range.start
            end = (request.http_range.stop or size) - 1
        response = web.StreamResponse(status=206 if request.headers.get("Range") else 200)
        response.content_length = end - start + 1
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        await response.prepare(request)
        block = 16 * 1024
        with target.open("rb") as handle:
            handle.seek(start)
            left = end - start + 1
            while left > 0:
                data = handle.read(min(block, left))
                try:
                    await response.write(data)
                except ConnectionResetError:  # libtorrent hung up: it has the piece elsewhere
                    return response
                self.served += len(data)
                left -= len(data)
                await asyncio.sleep(len(data) / self.bytes_per_second)  # throttle, not a wait
        return response


@dataclass
class AgentUnderTest:
    """An agent app on a free port whose manifests come from ``releases`` (already verified:
    the trust path has its own tests), with a small client for its API."""

    running: RunningApp
    config: Config
    token: str

    @property
    def engine(self) -> Engine:
        return self.running.runner.app[ENGINE]

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.request(method, self.running.url + path, json=body) as response,
        ):
            payload = await response.json(content_type=None) if response.status != 204 else None
            return response.status, payload

    async def stop(self) -> None:
        await self.running.stop()


class AgentProcess:
    """A real ``peerpipe agent serve`` process configured by ``env`` (``PEERPIPE_*``), to be
    killed with SIGKILL where a test needs a crash no ``finally`` block sees."""

    def __init__(self, env: dict[str, str], data_dir: Path, log: Path) -> None:
        self.env = env
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{env['PEERPIPE_AGENT_PORT']}"
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "peerpipe", "agent", "serve",
                env=self.env, stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        await until(self.healthy, 30)

    async def healthy(self) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}/health") as answer:
                return answer.status == 200
        except aiohttp.ClientError:
            return False

    async def call(self, method: str, path: str, body: object = None) -> Any:
        token = (self.data_dir / "api.token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.request(method, self.url + path, json=body) as answer,
        ):
            assert answer.status < 300, await answer.text()
            return await answer.json()

    async def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


def release_source(releases: dict[str, BuiltRelease]) -> ReleaseSource:
    async def source(game_id: str, release: int | None) -> Manifest:
        if game_id not in releases:
            raise ReleaseUnavailable(f"no trusted manifest for {game_id}")
        return releases[game_id]

    return source


async def start_agent(config: Config, releases: dict[str, BuiltRelease]) -> AgentUnderTest:
    running = await start_app(create_app(config, release_source=release_source(releases)))
    token = (config.agent.data_dir / "api.token").read_text().strip()
    return AgentUnderTest(running, config, token)


def agent_config(
    base: Config, *, cdn: list[str], tracker: str = "", library: str, **agent: Any
) -> Config:
    return replace(
        base,
        agent=replace(
            base.agent,
            cdn_urls=tuple(cdn),
            tracker_url=tracker or "http://127.0.0.1:9",
            library_url=library,
            **agent,
        ),
    )


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    """Wait until ``condition()`` holds, polling, within ``seconds``."""
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110 - the condition is remote state
            await asyncio.sleep(0.05)
