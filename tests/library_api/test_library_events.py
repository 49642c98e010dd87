"""Events: purchases in (endpoint and Redis consumer group), library events out (WebSocket,
Redis Streams), each applied once however often it is delivered."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis
from ci_guard import unavailable
from library_support import SERVICE, Library, bearer, library_config

from library_api import create_app
from library_api.options import LibraryOptions
from peerpipe.service import start_app

BASE = "/api/v1/library"
REDIS_URL = os.environ.get("PEERPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def purchase(event_id: str, user: str, game: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/payments",
        "type": "payment.purchase.completed",
        "data": {"user_id": user, "game_id": game},
    }


async def _next_event(socket: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await asyncio.wait_for(socket.receive(), timeout=5)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    body: dict[str, Any] = json.loads(message.data)
    return body


async def test_purchase_event_grants_once(library: Library) -> None:
    event = purchase("pay-1", "alice", "space-game")
    for expected in (True, False, False):
        status, body, _ = await library.call("POST", f"{BASE}/internal/events", SERVICE, json=event)
        assert status == 202 and body == {"id": "pay-1", "applied": expected}
    assert (await library.access(user_id="alice", game_id="space-game"))["allowed"] is True


async def test_purchase_removes_the_game_from_the_wishlist(library: Library) -> None:
    await library.call("POST", f"{BASE}/wishlist", bearer("alice"), json={"game_id": "space-game"})
    await library.call(
        "POST", f"{BASE}/internal/events", SERVICE, json=purchase("p2", "alice", "space-game")
    )
    _, wishlist, _ = await library.call("GET", f"{BASE}/wishlist", bearer("alice"))
    assert wishlist["items"] == []


@pytest.mark.parametrize(
    "event",
    [
        {"specversion": "0.3", "id": "x", "source": "/p", "type": "t"},
        {"specversion": "1.0", "source": "/p", "type": "t"},
        {"specversion": "1.0", "id": "x", "source": "/p", "type": "t", "data": [1]},
        purchase("p3", "alice", "../etc"),
    ],
)
async def test_malformed_events_are_400(library: Library, event: dict[str, Any]) -> None:
    status, body, _ = await library.call("POST", f"{BASE}/internal/events", SERVICE, json=event)
    assert status == 400 and body["code"] in {"INVALID_EVENT", "INVALID_GAME_ID"}


async def test_user_tokens_cannot_post_events(library: Library) -> None:
    event = purchase("p4", "alice", "space-game")
    status, _, _ = await library.call(
        "POST", f"{BASE}/internal/events", bearer("alice"), json=event
    )
    assert status == 403


async def test_websocket_pushes_only_the_users_own_events(library: Library) -> None:
    async with library.http.ws_connect(
        f"{library.url}{BASE}/ws", headers=bearer("alice")
    ) as socket:
        assert (await _next_event(socket))["type"] == "hello"
        await library.grant("bob", "space-game")
        await library.grant("alice", "space-game")
        added = await _next_event(socket)
        assert added["type"] == "library.game.added" and added["specversion"] == "1.0"
        assert added["data"] == {
            "user_id": "alice",
            "game_id": "space-game",
            "acquisition_type": "purchase",
        }
        await library.call("DELETE", f"{BASE}/internal/ownership/alice/space-game", SERVICE)
        revoked = await _next_event(socket)
        assert revoked["type"] == "library.game.revoked"
        assert revoked["data"]["game_id"] == "space-game"


async def test_websocket_accepts_a_token_in_the_query_and_refuses_none(library: Library) -> None:
    token = bearer("alice")["Authorization"].split()[1]
    async with library.http.ws_connect(
        f"{library.url}{BASE}/ws", params={"access_token": token}
    ) as socket:
        assert (await _next_event(socket))["user_id"] == "alice"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await library.http.ws_connect(f"{library.url}{BASE}/ws")
    assert refused.value.status == 401


@pytest.fixture
async def redis_library(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Library, str]]:
    """A library API with events on Redis Streams under a key prefix of its own."""
    prefix = f"peerpipe-test:{secrets.token_hex(4)}"
    client = redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        unavailable(f"Redis at {REDIS_URL} is not available: {exc}")
    config = library_config(tmp_path, database_url)
    config = replace(config, library=replace(config.library, redis_url=REDIS_URL))
    options = LibraryOptions(
        events_stream=f"{prefix}:library", payments_stream=f"{prefix}:payments"
    )
    running = await start_app(create_app(config, options))
    try:
        async with aiohttp.ClientSession() as http:
            yield Library(url=running.url, http=http, config=config), prefix
    finally:
        await running.stop()
        await client.delete(f"{prefix}:library", f"{prefix}:payments")
        await client.aclose()


async def _until(condition: Any, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_redis_purchases_are_consumed_once_and_revocations_published(
    redis_library: tuple[Library, str],
) -> None:
    library, prefix = redis_library
    client = redis.from_url(REDIS_URL)
    try:
        event = json.dumps(purchase("pay-redis", "alice", "space-game"))
        for _ in range(2):
            await client.xadd(f"{prefix}:payments", {"event": event})
        await client.xadd(f"{prefix}:payments", {"event": "not json"})

        async def allowed() -> bool:
            decision = await library.access(user_id="alice", game_id="space-game")
            return bool(decision["allowed"])

        await _until(allowed)

        async def drained() -> bool:
            info = await client.xpending(f"{prefix}:payments", "library-api")
            return int(info["pending"]) == 0

        await _until(drained)
        await library.call("DELETE", f"{BASE}/internal/ownership/alice/space-game", SERVICE)
        entries = await client.xrange(f"{prefix}:library")
        types = [json.loads(fields[b"event"])["type"] for _, fields in entries]
        assert types == ["library.game.added", "library.game.revoked"]
    finally:
        await client.aclose()


async def test_redis_events_reach_the_websocket(redis_library: tuple[Library, str]) -> None:
    library, _ = redis_library
    async with library.http.ws_connect(
        f"{library.url}{BASE}/ws", headers=bearer("alice")
    ) as socket:
        assert (await _next_event(socket))["type"] == "hello"
        await library.grant("alice", "space-game")
        assert (await _next_event(socket))["type"] == "library.game.added"
