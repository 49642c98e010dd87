"""A small PeerPipe network on loopback for the agent's update and preload tests: the real
library API (SQLite), the real tracker (in memory) asking it who owns what, a real CDN node
(``seeder.cdn``) serving the origin the publish pipeline writes, and agents (``peer.
create_app``) that install, update, preload and seed through them.

Publishing registers every release's swarm with the tracker and its catalog entry with the
library (``register=True``), and a locked release's key with the library's escrow, exactly as
``peerpipe publish`` does.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from peer_support import AgentUnderTest, until

from library_api import create_app as create_library_app
from library_api import release_key_routes
from peer import create_app as create_agent_app
from peer import updater as updater_module
from peer.updates import read_pointer
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from peerpipe.tokens import Role, mint_token
from seeder.cdn import create_app as create_cdn_app
from seeder.publish import PublishResult, publish_release
from signing import TrustRepository, generate_key, load_signer, save_private_key
from tracker import create_app as create_tracker_app

PLATFORM_KEY = "agent-network-platform-key-" + "n" * 32


def write_build(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def tree(root: Path, skip: str = "") -> dict[str, str]:
    """Every file under ``root`` by SHA-256 (paths starting with ``skip`` left out)."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.relative_to(root).as_posix().startswith(skip or "\0")
    }


class WallClocks:
    """The library's and the agents' wall clocks, moved forward by a test: unlock times are
    decided by wall clocks (the library hands a key out from its unlock time, the agent
    preloads a release until then), and a test cannot wait for a launch date."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        offset = self._offset = [timedelta(0)]

        class Shifted(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> Shifted:
                return cast("Shifted", datetime.now(tz) + offset[0])

        monkeypatch.setattr(release_key_routes, "datetime", Shifted)
        monkeypatch.setattr(updater_module, "datetime", Shifted)

    def move_to(self, moment: datetime) -> None:
        self._offset[0] = moment - datetime.now(UTC)


@dataclass
class AgentNetwork:
    root: Path
    game: str
    origin: Config  # the publisher's side: trust repository, origin store, registration
    publisher_key: Path
    library: RunningApp
    tracker: RunningApp
    cdn: RunningApp
    agents: dict[str, AgentUnderTest] = field(default_factory=dict)
    cdn_paths: list[str] = field(default_factory=list)  # every path the CDN node served
    # awaited before the CDN node serves a chunk: a test holds a download where it chooses
    chunk_holds: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def trusted_root(self) -> Path:
        return self.root / "root.json"

    def game_dir(self, user: str) -> Path:
        return self.agents[user].config.agent.install_dir / self.game

    async def publish(self, build: Path, version: str, **options: Any) -> PublishResult:
        """``peerpipe publish`` (blocking HTTP to the loopback services: run in a thread)."""
        return await asyncio.to_thread(
            publish_release, build, self.game, version, self.publisher_key, None, self.origin,
            **options,
        )  # fmt: skip

    async def service_call(
        self, method: str, url: str, body: object = None, role: Role = Role.SERVICE
    ) -> tuple[int, Any]:
        token = mint_token(PLATFORM_KEY, "operator", role)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.request(method, url, json=body) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def grant(self, user: str) -> None:
        """The shop's purchase: ``user`` owns the game from now on."""
        body = {"user_id": user, "game_id": self.game, "acquisition_type": "purchase"}
        url = f"{self.library.url}/api/v1/library/internal/ownership"
        status, answer = await self.service_call("POST", url, body)
        assert status in (200, 201), answer

    async def swarm_peers(self, info_hash_v1: str) -> list[dict[str, Any]]:
        """The peers the tracker knows in a release's swarm (admin API)."""
        url = f"{self.tracker.url}/api/v1/admin/swarms/{info_hash_v1}"
        status, body = await self.service_call("GET", url, role=Role.ADMIN)
        assert status == 200, body
        return list(body["peers"])

    async def start_agent(self, user: str) -> AgentUnderTest:
        base = Config().with_data_dir(self.root / "players" / user)
        config = replace(
            base,
            agent=replace(
                base.agent,
                cdn_urls=(self.cdn.url,),
                tracker_url=self.tracker.url,
                library_url=self.library.url,
                trusted_root=self.trusted_root,
                user_token=mint_token(PLATFORM_KEY, user, Role.USER),
            ),
        )
        return await self._run_agent(user, config)

    async def restart_agent(
        self, user: str, while_stopped: Callable[[Config], Awaitable[None]] | None = None
    ) -> AgentUnderTest:
        old = self.agents.pop(user)
        await old.stop()
        if while_stopped is not None:
            await while_stopped(old.config)
        return await self._run_agent(user, old.config)

    async def _run_agent(self, user: str, config: Config) -> AgentUnderTest:
        running = await start_app(create_agent_app(config))
        token = (config.agent.data_dir / "api.token").read_text().strip()
        agent = AgentUnderTest(running, config, token)
        self.agents[user] = agent
        return agent

    async def install(self, user: str, release: int = 1) -> dict[str, Any]:
        """Install the latest release through the agent's queue; the finished record."""
        agent = self.agents[user]
        status, download = await agent.call("POST", "/api/v1/downloads", {"game_id": self.game})
        assert status == 202, download
        async with asyncio.timeout(60):
            done = await agent.engine.wait(download["id"])
        assert (str(done.state), done.release) == ("installed", release), done.error
        pointer = read_pointer(self.game_dir(user))
        assert pointer is not None and pointer.release == release
        return done.to_json()

    async def update_state(self, user: str) -> dict[str, Any]:
        status, body = await self.agents[user].call("GET", f"/api/v1/updates/{self.game}")
        assert status == 200, body
        return dict(body)

    async def download_update(self, user: str, seconds: float = 60) -> dict[str, Any]:
        """``POST /updates/<game>/download`` and wait until the update has ended."""
        agent = self.agents[user]
        status, body = await agent.call("POST", f"/api/v1/updates/{self.game}/download")
        assert status == 202, body

        async def finished() -> bool:
            return bool((await self.update_state(user))["update"]["state"] != "running")

        await until(finished, seconds)
        return await self.update_state(user)


@asynccontextmanager
async def agent_network(root: Path, game: str) -> AsyncIterator[AgentNetwork]:
    """Library, tracker and CDN node started, a publisher trusted for ``game``; agents are
    started by the test (``start_agent``) and stopped with the network."""
    library_config = replace(Config().with_data_dir(root / "library"), platform_key=PLATFORM_KEY)
    library = await start_app(create_library_app(library_config))
    tracker_config = replace(
        Config(platform_key=PLATFORM_KEY),
        tracker=replace(Config().tracker, library_url=library.url, min_announce_interval=1),
    )
    tracker = await start_app(create_tracker_app(tracker_config))
    origin = Config().with_data_dir(root / "origin")
    origin = replace(
        origin,
        platform_key=PLATFORM_KEY,
        tracker=replace(origin.tracker, public_url=tracker.url),
        library=replace(origin.library, public_url=library.url),
    )
    keys = {name: root / "keys" / f"{name}.pem" for name in ("admin", "acme")}
    keys["admin"].parent.mkdir(parents=True)
    for path in keys.values():
        save_private_key(generate_key(), path, passphrase=None)
    admin = load_signer(keys["admin"], None)
    repository = TrustRepository(origin.trust_dir)
    repository.init([admin])
    repository.add_publisher("acme", load_signer(keys["acme"], None).public_key, [game], [admin])
    (root / "root.json").write_bytes(repository.trusted_root())
    cdn_paths: list[str] = []
    chunk_holds: list[Callable[[], Awaitable[None]]] = []

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        cdn_paths.append(request.path)
        if request.path.startswith("/chunks/"):
            for hold in chunk_holds:
                await hold()
        response: web.StreamResponse = await handler(request)
        return response

    cdn_app = create_cdn_app(origin, seed=False)
    cdn_app.middlewares.append(count)
    cdn = await start_app(cdn_app)
    network = AgentNetwork(root, game, origin, keys["acme"], library, tracker, cdn,
                           cdn_paths=cdn_paths, chunk_holds=chunk_holds)  # fmt: skip
    try:
        yield network
    finally:
        for agent in network.agents.values():
            await agent.stop()
        for service in (cdn, tracker, library):
            await service.stop()
