"""Wishlist (ranked, annotated, gone on purchase) and game settings with history."""

from __future__ import annotations

import asyncio

from library_support import Library, bearer

BASE = "/api/v1/library"


async def test_wishlist_add_change_remove(library: Library) -> None:
    for game, priority in (("later", 5), ("now", 0)):
        status, item, _ = await library.call(
            "POST", f"{BASE}/wishlist", bearer("alice"),
            json={"game_id": game, "priority": priority, "notes": "sale?"},
        )  # fmt: skip
        assert status == 201 and item["priority"] == priority
    _, body, _ = await library.call("GET", f"{BASE}/wishlist", bearer("alice"))
    assert [item["game_id"] for item in body["items"]] == ["now", "later"]
    status, item, _ = await library.call(
        "PATCH", f"{BASE}/wishlist/later", bearer("alice"), json={"priority": 0, "notes": "x"}
    )
    assert status == 200 and item["notes"] == "x"
    status, problem, _ = await library.call(
        "POST", f"{BASE}/wishlist", bearer("alice"), json={"game_id": "now"}
    )
    assert status == 409 and problem["code"] == "ALREADY_ON_WISHLIST"
    assert (await library.call("DELETE", f"{BASE}/wishlist/now", bearer("alice")))[0] == 204
    assert (await library.call("DELETE", f"{BASE}/wishlist/now", bearer("alice")))[0] == 404


async def test_wishlists_are_private(library: Library) -> None:
    await library.call("POST", f"{BASE}/wishlist", bearer("alice"), json={"game_id": "g"})
    _, body, _ = await library.call("GET", f"{BASE}/wishlist", bearer("bob"))
    assert body["items"] == []
    for method, extra in (("PATCH", {"json": {"priority": 1}}), ("DELETE", {})):
        status, problem, _ = await library.call(
            method, f"{BASE}/wishlist/g", bearer("bob"), **extra
        )
        assert status == 404 and problem["code"] == "NOT_ON_WISHLIST"


async def test_owned_games_cannot_be_wished_and_purchases_leave(library: Library) -> None:
    await library.grant("alice", "owned")
    status, problem, _ = await library.call(
        "POST", f"{BASE}/wishlist", bearer("alice"), json={"game_id": "owned"}
    )
    assert status == 409 and problem["code"] == "GAME_ALREADY_OWNED"
    await library.call("POST", f"{BASE}/wishlist", bearer("alice"), json={"game_id": "wanted"})
    await library.grant("alice", "wanted", "gift")
    _, body, _ = await library.call("GET", f"{BASE}/wishlist", bearer("alice"))
    assert body["items"] == []


async def test_settings_versions_and_history(library: Library) -> None:
    await library.grant("alice", "space-game")
    url = f"{BASE}/settings/space-game"
    _, empty, _ = await library.call("GET", url, bearer("alice"))
    assert empty["version"] == 0 and empty["settings"] == {}
    for volume in (3, 7):
        status, saved, _ = await library.call(
            "PUT", url, bearer("alice"), json={"settings": {"volume": volume}, "device_id": "pc"}
        )
        assert status == 200
    assert saved["version"] == 2
    _, current, _ = await library.call("GET", url, bearer("alice"))
    assert current["settings"] == {"volume": 7}
    _, history, _ = await library.call("GET", f"{url}/history", bearer("alice"))
    assert [item["settings"]["volume"] for item in history["items"]] == [7, 3]
    status, problem, _ = await library.call(
        "PUT", url, bearer("alice"), json={"settings": {"volume": 1}, "based_on_version": 1}
    )
    assert status == 409 and problem["current"]["version"] == 2


async def test_concurrent_settings_saves_keep_every_version(library: Library) -> None:
    await library.grant("alice", "space-game")
    url = f"{BASE}/settings/space-game"
    results = await asyncio.gather(
        *(library.call("PUT", url, bearer("alice"), json={"settings": {"n": n}}) for n in range(5))
    )
    saved = [body["version"] for status, body, _ in results if status == 200]
    assert all(status in {200, 409} for status, _, _ in results)
    _, history, _ = await library.call("GET", f"{url}/history", bearer("alice"))
    assert sorted(item["version"] for item in history["items"]) == sorted(saved)


async def test_settings_of_unowned_games_and_other_users(library: Library) -> None:
    await library.grant("alice", "space-game")
    await library.call(
        "PUT", f"{BASE}/settings/space-game", bearer("alice"), json={"settings": {"a": 1}}
    )
    for method, extra in (("GET", {}), ("PUT", {"json": {"settings": {"a": 2}}})):
        status, problem, _ = await library.call(
            method, f"{BASE}/settings/space-game", bearer("bob"), **extra
        )
        assert status == 404 and problem["code"] == "GAME_NOT_IN_LIBRARY"
    status, problem, _ = await library.call(
        "PUT", f"{BASE}/settings/space-game", bearer("alice"), json={"settings": [1]}
    )
    assert status == 400
