"""Achievements: schema, progress that only rises, unlock rules, signatures, percentages."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from library_support import SERVICE, Library, bearer

from library_api.achievements import signed_message

BASE = "/api/v1/library"
SCHEMA = [
    {"id": "first-steps", "name": "First Steps", "description": "Walk", "target": 1},
    {"id": "collector", "name": "Collector", "description": "Collect 10", "target": 10},
    {"id": "secret-ending", "name": "The End?", "description": "Spoiler", "hidden": True},
]


async def _define(library: Library, **extra: Any) -> None:
    status, _, _ = await library.call(
        "PUT",
        f"{BASE}/internal/achievements/space-game",
        SERVICE,
        json={"achievements": SCHEMA, **extra},
    )
    assert status == 200


async def _play(library: Library, user: str) -> None:
    status, _, _ = await library.call(
        "POST",
        f"{BASE}/playtime/start",
        bearer(user),
        json={"game_id": "space-game", "device_id": "pc"},
    )
    assert status == 201


async def _unlock(library: Library, user: str, **body: Any) -> tuple[int, Any]:
    status, answer, _ = await library.call(
        "POST", f"{BASE}/achievements/unlock", bearer(user), json={"game_id": "space-game", **body}
    )
    return status, answer


async def _listing(library: Library, user: str) -> dict[str, Any]:
    status, body, _ = await library.call(
        "GET", f"{BASE}/achievements", bearer(user), params={"game_id": "space-game"}
    )
    assert status == 200, body
    return {item["achievement_id"]: item for item in body["achievements"]}


async def test_unlock_during_play_and_only_once(library: Library) -> None:
    await _define(library)
    await library.grant("alice", "space-game")
    await library.grant("bob", "space-game")
    status, problem = await _unlock(library, "alice", achievement_id="first-steps")
    assert status == 403 and problem["code"] == "NOT_PLAYING"
    await _play(library, "alice")
    status, item = await _unlock(library, "alice", achievement_id="first-steps")
    assert status == 200 and item["unlocked"] is True and item["unlocked_at"]
    status, problem = await _unlock(library, "alice", achievement_id="first-steps")
    assert status == 409 and problem["code"] == "ACHIEVEMENT_ALREADY_UNLOCKED"
    mine = await _listing(library, "alice")
    assert mine["first-steps"]["global_unlock_percentage"] == 50.0
    theirs = await _listing(library, "bob")
    assert theirs["first-steps"]["unlocked"] is False
    assert theirs["secret-ending"]["name"] == "Hidden achievement"
    assert theirs["secret-ending"]["description"] == ""


async def test_progress_only_rises_and_stops_at_the_target(library: Library) -> None:
    await _define(library)
    await library.grant("alice", "space-game")
    await _play(library, "alice")
    for sent, expected in ((4, 4), (2, 4), (7, 7)):
        status, item = await _unlock(library, "alice", achievement_id="collector", progress=sent)
        assert status == 200 and item["progress"] == expected and item["unlocked"] is False
    status, item = await _unlock(library, "alice", achievement_id="collector", progress=99)
    assert item["progress"] == 10 and item["unlocked"] is True


async def test_concurrent_unlocks_succeed_exactly_once(library: Library) -> None:
    await _define(library)
    await library.grant("alice", "space-game")
    await _play(library, "alice")
    results = await asyncio.gather(
        *(_unlock(library, "alice", achievement_id="first-steps") for _ in range(5))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1 and set(statuses[1:]) == {409}


async def test_game_server_signature_unlocks_without_a_session(library: Library) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    await _define(library, server_key=base64.b64encode(public).decode())
    await library.grant("alice", "space-game")
    forged = base64.b64encode(
        key.sign(signed_message("bob", "space-game", "secret-ending", None))
    ).decode()
    status, _ = await _unlock(library, "alice", achievement_id="secret-ending", signature=forged)
    assert status == 403
    good = base64.b64encode(
        key.sign(signed_message("alice", "space-game", "secret-ending", None))
    ).decode()
    status, item = await _unlock(library, "alice", achievement_id="secret-ending", signature=good)
    assert status == 200 and item["name"] == "The End?"


async def test_unowned_games_and_unknown_achievements(library: Library) -> None:
    await _define(library)
    status, problem = await _unlock(library, "mallory", achievement_id="first-steps")
    assert status == 404 and problem["code"] == "GAME_NOT_IN_LIBRARY"
    status, problem, _ = await library.call(
        "GET", f"{BASE}/achievements", bearer("mallory"), params={"game_id": "space-game"}
    )
    assert status == 404
    await library.grant("alice", "space-game")
    await _play(library, "alice")
    status, problem = await _unlock(library, "alice", achievement_id="nope")
    assert status == 404 and problem["code"] == "ACHIEVEMENT_NOT_FOUND"
    status, problem = await _unlock(library, "alice", achievement_id="collector", progress=-1)
    assert status == 400


async def test_only_services_define_achievements(library: Library) -> None:
    status, _, _ = await library.call(
        "PUT", f"{BASE}/internal/achievements/space-game", bearer("alice"),
        json={"achievements": SCHEMA},
    )  # fmt: skip
    assert status == 403
    status, problem, _ = await library.call(
        "PUT", f"{BASE}/internal/achievements/space-game", SERVICE,
        json={"achievements": [{"id": "x", "target": 0}]},
    )  # fmt: skip
    assert status == 400 and problem["code"] == "INVALID_FIELD"
