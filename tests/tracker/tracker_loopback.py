"""Loopback helpers: a small library API standing in at the edge, announce and admin calls."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from urllib.parse import quote_from_bytes

import aiohttp
import redis.asyncio as redis
import yarl
from aiohttp import web
from ci_guard import unavailable
from redis.exceptions import RedisError

from peerpipe.config import Config, TrackerConfig
from peerpipe.service import RunningApp, start_app
from peerpipe.tokens import Role, TokenError, TokenVerifier, mint_token
from tracker import RunningTracker, decode

PLATFORM_KEY = "tracker-tests-platform-key-0123456789abcdef"
OWNER = "a" * 32
OTHER_OWNER = "b" * 32
NOT_OWNER = "c" * 32


@dataclass
class Library:
    """The library API's internal access endpoint, as the tracker sees it over HTTP."""

    owners: dict[str, set[str]] = field(default_factory=dict)
    # Single questions asked, and the size of each batch of questions (refreshes).
    calls: int = 0
    batches: list[int] = field(default_factory=list)
    failing_batches: bool = False  # batches are counted, then answered 503
    running: RunningApp | None = None

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.url

    def _refused_caller(self, request: web.Request) -> web.Response | None:
        try:
            identity = TokenVerifier(PLATFORM_KEY).verify_header(
                request.headers.get("Authorization")
            )
        except TokenError as exc:
            return web.json_response({"title": str(exc)}, status=401)
        if identity.role is not Role.SERVICE:
            return web.json_response({"title": "service role needed"}, status=403)
        return None

    def decide(self, passkey: str, game_id: str) -> dict[str, object]:
        if passkey not in self.owners:
            return {"allowed": False, "user_id": None, "reason": "unknown passkey"}
        user_id = f"user-{passkey[:4]}"
        if game_id not in self.owners[passkey]:
            return {"allowed": False, "user_id": user_id, "reason": "game not in library"}
        return {"allowed": True, "user_id": user_id, "reason": "owned"}

    async def access(self, request: web.Request) -> web.Response:
        refused = self._refused_caller(request)
        if refused is not None:
            return refused
        self.calls += 1
        return web.json_response(
            self.decide(request.query.get("passkey", ""), request.query.get("game_id", ""))
        )

    async def access_batch(self, request: web.Request) -> web.Response:
        refused = self._refused_caller(request)
        if refused is not None:
            return refused
        questions = (await request.json())["questions"]
        self.batches.append(len(questions))
        if self.failing_batches:
            return web.json_response({"title": "unavailable"}, status=503)
        answers = [self.decide(q["passkey"], q["game_id"]) for q in questions]
        return web.json_response({"answers": answers})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/library/internal/access", self.access)
        app.router.add_post("/api/v1/library/internal/access/batch", self.access_batch)
        self.running = await start_app(app)

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.stop()


def tracker_config(library_url: str, **tracker: object) -> Config:
    base = Config(platform_key=PLATFORM_KEY)
    return replace(base, tracker=replace(TrackerConfig(library_url=library_url), **tracker))


StartTracker = Callable[..., Awaitable[RunningTracker]]


def info_hash(name: str) -> bytes:
    return hashlib.sha1(name.encode()).digest()


def peer_id(n: int) -> bytes:
    return b"-PP0001-" + f"{n:012d}".encode()


def admin_headers(role: Role = Role.ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(PLATFORM_KEY, 'ops', role)}"}


async def register_swarm(
    http: aiohttp.ClientSession, tracker_url: str, game_id: str, v1: bytes, v2: bytes | None = None
) -> None:
    body = {
        "game_id": game_id,
        "release": 1,
        "info_hash_v1": v1.hex(),
        "info_hash_v2": v2.hex() if v2 else None,
    }
    async with http.post(
        f"{tracker_url}/api/v1/admin/swarms", json=body, headers=admin_headers()
    ) as r:
        assert r.status == 201, await r.text()


async def announce(
    http: aiohttp.ClientSession,
    tracker_url: str,
    passkey: str,
    hash_: bytes,
    peer: int,
    port: int = 6881,
    left: int = 100,
    **extra: str,
) -> dict[bytes, object]:
    """Announce with the raw query clients send; ``extra`` adds or overrides parameters."""
    params = {
        "info_hash": quote_from_bytes(hash_, safe=""),
        "peer_id": quote_from_bytes(peer_id(peer), safe=""),
        "port": str(port),
        "uploaded": "0",
        "downloaded": "0",
        "left": str(left),
    }
    params.update(extra)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = yarl.URL(f"{tracker_url}/{passkey}/announce?{query}", encoded=True)
    async with http.get(url) as response:
        assert response.status == 200
        reply = decode(await response.read())
    assert isinstance(reply, dict)
    return reply


def compact_ports(reply: dict[bytes, object]) -> set[int]:
    peers = reply[b"peers"]
    assert isinstance(peers, bytes) and len(peers) % 6 == 0
    return {int.from_bytes(peers[i + 4 : i + 6], "big") for i in range(0, len(peers), 6)}


REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_or_skip() -> redis.Redis:
    """A client of the real Redis; without one the test skips, or fails when CI=true."""
    client = redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        unavailable(f"Redis is not running at {REDIS_URL}: {exc}")
    return client


def unique_prefix() -> str:
    return f"test:tracker:{secrets.token_hex(6)}:"


async def delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float) -> float:
    """Seconds until ``check`` held; fails after ``seconds``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started
