"""Preload and unlock through the agent's API: release 2 is published locked (its new chunks
sealed on a real CDN node), the agent preloads it, the library stub holds the key back until
the unlock time exactly as library_api's release-key endpoint does, and the unlock builds the
release from the preloaded chunks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from peer_support import AgentUnderTest, LibraryStub, tracker_app, until

from peer import create_app
from peer.updates import read_pointer, release_dir
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from peerpipe.tokens import Role, mint_token
from seeder.cdn import create_app as create_cdn_app
from seeder.publish import publish_release
from signing import TrustRepository, generate_key, load_signer, save_private_key

pytestmark = pytest.mark.timeout(120)

GAME = "moon-courier"
PLATFORM_KEY = "preload-platform-key-" + "p" * 32
MARKER = b"LOCKED-EPILOGUE-"
SECRET = MARKER * 12_000  # ~190 KiB of the locked release's new content


def _problem(status: int, code: str, **extra: Any) -> web.Response:
    body = {"title": code, "status": status, "code": code, **extra}
    return web.json_response(body, status=status, content_type="application/problem+json")


@dataclass
class KeyLibraryStub(LibraryStub):
    """Adds the release-key endpoint, mirroring library_api.release_key_routes: 403 NOT_OWNER
    for a non-owner (checked first), 425 RELEASE_LOCKED before the unlock time, then the key."""

    keys: dict[tuple[str, int], tuple[bytes, datetime]] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    handed_out: int = 0

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/api/v1/library/{game_id}/releases/{release}/key", self.key)
        return app

    async def key(self, request: web.Request) -> web.Response:
        game, release = request.match_info["game_id"], int(request.match_info["release"])
        if game not in self.owned:
            return _problem(403, "NOT_OWNER")
        if (game, release) not in self.keys:
            return _problem(404, "RELEASE_KEY_NOT_FOUND")
        key, unlock_at = self.keys[(game, release)]
        if self.clock() < unlock_at:
            return _problem(425, "RELEASE_LOCKED", unlock_at=unlock_at.isoformat())
        self.handed_out += 1
        return web.json_response({"key": key.hex(), "alg": "AES-256-GCM",
                                  "unlock_at": unlock_at.isoformat()})  # fmt: skip


@dataclass
class Network:
    origin: Config
    publisher_key: Path
    agent: AgentUnderTest
    library: KeyLibraryStub
    cdn_paths: list[str]
    root: Path

    @property
    def game_dir(self) -> Path:
        return self.agent.config.agent.install_dir / GAME


def build(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def leaks(root: Path) -> list[Path]:
    """Files under ``root`` holding any of the locked release's plaintext."""
    return [p for p in root.rglob("*") if p.is_file() and MARKER in p.read_bytes()]


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[Network]:
    origin = replace(Config().with_data_dir(tmp_path / "origin"), platform_key=PLATFORM_KEY)
    keys = {name: tmp_path / "keys" / f"{name}.pem" for name in ("admin", "acme")}
    keys["admin"].parent.mkdir()
    for path in keys.values():
        save_private_key(generate_key(), path, passphrase=None)
    admin = load_signer(keys["admin"], None)
    repository = TrustRepository(origin.trust_dir)
    repository.init([admin])
    repository.add_publisher("acme", load_signer(keys["acme"], None).public_key, [GAME], [admin])
    (tmp_path / "root.json").write_bytes(repository.trusted_root())
    cdn_paths: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        cdn_paths.append(request.path)
        response: web.StreamResponse = await handler(request)
        return response

    cdn_app = create_cdn_app(origin, seed=False)
    cdn_app.middlewares.append(count)
    cdn = await start_app(cdn_app)
    library = KeyLibraryStub(owned={GAME})
    library_app = await start_app(library.app())
    tracker = await start_app(tracker_app([]))
    player = Config().with_data_dir(tmp_path / "player")
    agent_config = replace(
        player.agent,
        cdn_urls=(cdn.url,),
        tracker_url=tracker.url,
        library_url=library_app.url,
        trusted_root=tmp_path / "root.json",
        user_token=mint_token(PLATFORM_KEY, "alice", Role.USER),
    )
    player = replace(player, agent=agent_config)
    running = await start_app(create_app(player))
    token = (player.agent.data_dir / "api.token").read_text().strip()
    agent = AgentUnderTest(running, player, token)
    try:
        yield Network(origin, keys["acme"], agent, library, cdn_paths, tmp_path)
    finally:
        await agent.stop()
        apps: list[RunningApp] = [cdn, library_app, tracker]
        await asyncio.gather(*(app.stop() for app in apps))


async def install(network: Network) -> None:
    status, download = await network.agent.call("POST", "/api/v1/downloads", {"game_id": GAME})
    assert status == 202, download
    async with asyncio.timeout(60):
        done = await network.agent.engine.wait(download["id"])
    assert (str(done.state), done.release) == ("installed", 1), done.error


def publish(network: Network, root: Path, version: str, **kw: Any) -> Any:
    return publish_release(root, GAME, version, network.publisher_key, None, network.origin,
                           register=False, **kw)  # fmt: skip


async def test_preload_stays_sealed_until_the_key_and_unlocks_without_a_second_download(
    network: Network,
) -> None:
    first = {"bin/game": os.urandom(150_000), "data/level.pak": os.urandom(400_000)}
    publish(network, build(network.root / "b1", first), "1.0.0")
    await install(network)
    status, refused = await network.agent.call("POST", f"/api/v1/preload/{GAME}")
    assert (status, refused["code"]) == (409, "NOT_LOCKED")

    second = dict(first, **{"data/epilogue.pak": SECRET})
    shutil.copytree(network.root / "b1", network.root / "b2")
    unlock_at = datetime.now(UTC) + timedelta(days=30)
    locked = publish(network, build(network.root / "b2", second), "2.0.0",
                     unlock_at=unlock_at.isoformat())  # fmt: skip
    network.library.keys[(GAME, 2)] = (locked.release_key, unlock_at)

    status, started = await network.agent.call("POST", f"/api/v1/preload/{GAME}")
    assert status == 202, started
    assert (started["release"], started["total"]) == (2, started["total"])
    assert started["total"] > 0

    async def preloaded() -> bool:
        _, body = await network.agent.call("GET", f"/api/v1/preload/{GAME}/status")
        assert body["state"] in ("preloading", "preloaded"), body
        return bool(body["state"] == "preloaded")

    await until(preloaded, 60)
    _, state = await network.agent.call("GET", f"/api/v1/preload/{GAME}/status")
    assert state["done"] == state["total"] and state["unlock_at"] is not None
    install_dir = network.agent.config.agent.install_dir
    preloaded_chunks = list((network.game_dir / ".preload-2").iterdir())
    assert len(preloaded_chunks) == state["total"]
    assert leaks(install_dir) == []

    status, early = await network.agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert (status, early["code"]) == (425, "RELEASE_LOCKED"), early
    assert early["unlock_at"] == unlock_at.isoformat()
    assert leaks(install_dir) == []

    network.library.clock = lambda: unlock_at + timedelta(seconds=1)
    network.library.owned.discard(GAME)
    status, stranger = await network.agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert (status, stranger["code"]) == (403, "NOT_OWNER"), stranger
    assert network.library.handed_out == 0

    network.library.owned.add(GAME)
    chunk_requests = len([p for p in network.cdn_paths if p.startswith("/chunks/")])
    assert chunk_requests >= len(preloaded_chunks)
    status, unlocked = await network.agent.call("POST", f"/api/v1/preload/{GAME}/unlock")
    assert status == 200, unlocked
    assert unlocked["release"] == 2 and unlocked["opened_bytes"] >= len(SECRET)
    assert len([p for p in network.cdn_paths if p.startswith("/chunks/")]) == chunk_requests

    pointer = read_pointer(network.game_dir)
    assert pointer is not None and pointer.release == 2
    current = release_dir(network.game_dir, 2)
    for name, data in second.items():
        assert (
            hashlib.sha256((current / name).read_bytes()).digest() == hashlib.sha256(data).digest()
        )
    assert not (network.game_dir / ".preload-2").exists()
    _, update = await network.agent.call("GET", f"/api/v1/updates/{GAME}")
    assert update["launchable"] is True and update["release"] == 2, update
