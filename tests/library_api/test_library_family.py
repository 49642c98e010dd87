"""Family sharing: linking, borrowing (access check included), one player at a time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from library_support import Library, bearer

BASE = "/api/v1/library"


async def _link(library: Library, owner: str, member: str) -> tuple[int, Any]:
    status, body, _ = await library.call(
        "POST", f"{BASE}/family/members", bearer(owner), json={"user_id": member}
    )
    return status, body


async def _start(library: Library, user: str, game: str) -> tuple[int, Any]:
    status, body, _ = await library.call(
        "POST", f"{BASE}/playtime/start", bearer(user), json={"game_id": game, "device_id": "pc"}
    )
    return status, body


async def test_members_borrow_the_owners_games_but_not_subscriptions(library: Library) -> None:
    await library.grant("olivia", "space-game")
    await library.grant("olivia", "sub-game", "subscription")
    status, family = await _link(library, "olivia", "max")
    assert status == 201 and [m["user_id"] for m in family["members"]] == ["max"]
    decision = await library.access(user_id="max", game_id="space-game")
    assert decision["allowed"] is True and "family owner olivia" in decision["reason"]
    passkey = await library.passkey("max")
    assert (await library.access(passkey=passkey, game_id="space-game"))["allowed"] is True
    assert (await library.access(user_id="max", game_id="sub-game"))["allowed"] is False
    _, shared, _ = await library.call("GET", f"{BASE}/family/games", bearer("max"))
    assert shared["items"] == [
        {"game_id": "space-game", "title": "space-game", "shared_by": "olivia"}
    ]
    _, seen_by_member, _ = await library.call("GET", f"{BASE}/family", bearer("max"))
    assert seen_by_member["owner_id"] == "olivia"
    status, borrowed = await _start(library, "max", "space-game")
    assert status == 201
    status, _, _ = await library.call("DELETE", f"{BASE}/family/members/max", bearer("olivia"))
    assert status == 204
    assert (await library.access(user_id="max", game_id="space-game"))["allowed"] is False
    status, problem, _ = await library.call(
        "POST", f"{BASE}/playtime/heartbeat", bearer("max"),
        json={"session_id": borrowed["session_id"]},
    )  # fmt: skip
    assert status == 400 and "family_left" in problem["detail"]


async def test_a_member_can_leave_and_strangers_cannot_unlink(library: Library) -> None:
    await _link(library, "olivia", "max")
    status, body, _ = await library.call("DELETE", f"{BASE}/family/members/max", bearer("eve"))
    assert status == 404 and body["code"] == "FAMILY_MEMBER_NOT_FOUND"
    _, family, _ = await library.call("GET", f"{BASE}/family", bearer("eve"))
    assert family == {"owner_id": "eve", "members": []}
    status, _, _ = await library.call("DELETE", f"{BASE}/family/members/max", bearer("max"))
    assert status == 204
    _, family, _ = await library.call("GET", f"{BASE}/family", bearer("olivia"))
    assert family["members"] == []


async def test_link_conflicts(library: Library) -> None:
    assert (await _link(library, "olivia", "olivia"))[1]["code"] == "FAMILY_CONFLICT"
    assert (await _link(library, "olivia", "max"))[0] == 201
    assert (await _link(library, "olivia", "max"))[0] == 201  # again: nothing changes
    assert (await _link(library, "other-owner", "max"))[1]["code"] == "FAMILY_CONFLICT"
    assert (await _link(library, "max", "someone"))[1]["code"] == "FAMILY_CONFLICT"
    assert (await _link(library, "olivia", "mia"))[0] == 201
    status, body = await _link(library, "olivia", "third")
    assert status == 409 and body["code"] == "FAMILY_FULL"


async def test_one_player_at_a_time_and_the_owner_comes_first(library: Library) -> None:
    await library.grant("olivia", "space-game")
    await _link(library, "olivia", "max")
    await _link(library, "olivia", "mia")
    status, borrowed = await _start(library, "max", "space-game")
    assert status == 201 and borrowed["shared_by"] == "olivia"
    status, problem = await _start(library, "mia", "space-game")
    assert status == 409 and problem["code"] == "SHARED_GAME_IN_USE"
    async with library.http.ws_connect(f"{library.url}{BASE}/ws", headers=bearer("max")) as ws:
        await asyncio.wait_for(ws.receive(), 5)  # hello
        assert (await _start(library, "olivia", "space-game"))[0] == 201
        notice = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
    assert notice["type"] == "library.playtime.updated"
    assert notice["data"]["reason"] == "owner_priority" and "owner" in notice["data"]["notice"]
    status, problem, _ = await library.call(
        "POST",
        f"{BASE}/playtime/heartbeat",
        bearer("max"),
        json={"session_id": borrowed["session_id"]},
    )
    assert status == 400 and "owner_priority" in problem["detail"]


async def test_the_owner_playing_blocks_borrowers(library: Library) -> None:
    await library.grant("olivia", "space-game")
    await _link(library, "olivia", "max")
    assert (await _start(library, "olivia", "space-game"))[0] == 201
    status, problem = await _start(library, "max", "space-game")
    assert status == 409 and problem["code"] == "SHARED_GAME_IN_USE"


async def test_websocket_needs_a_valid_token(library: Library) -> None:
    try:
        await library.http.ws_connect(
            f"{library.url}{BASE}/ws", headers={"Authorization": "Bearer x"}
        )
    except aiohttp.WSServerHandshakeError as refused:
        assert refused.status == 401
    else:
        raise AssertionError("a bad token opened a WebSocket")
