"""The library listing: filters, sort orders, cursor pages, categories, notes, staff access."""

from __future__ import annotations

from typing import Any

import pytest
from library_support import SERVICE, Library, bearer

from peerpipe.tokens import Role

BASE = "/api/v1/library"


async def _catalog(library: Library, game: str, title: str, platforms: list[str]) -> None:
    status, _, _ = await library.call(
        "PUT",
        f"{BASE}/internal/catalog/{game}",
        SERVICE,
        json={"title": title, "publisher": "P", "metadata": {"platforms": platforms}},
    )
    assert status == 200


async def _shelf(library: Library) -> None:
    await _catalog(library, "alpha", "Alpha", ["windows", "linux"])
    await _catalog(library, "beta", "Beta", ["windows"])
    await _catalog(library, "gamma", "Gamma", ["linux"])
    await library.grant("alice", "beta")
    await library.grant("alice", "alpha", "gift")
    await library.grant("alice", "gamma", "free")


async def _ids(library: Library, user: str = "alice", **query: str) -> list[str]:
    status, body, _ = await library.call("GET", f"{BASE}/", bearer(user), params=query)
    assert status == 200, body
    return [item["game_id"] for item in body["items"]]


async def test_filters_select_matching_games(library: Library) -> None:
    await _shelf(library)
    await library.call("PATCH", f"{BASE}/alpha", bearer("alice"), json={"favorite": True})
    await library.call(
        "PATCH", f"{BASE}/beta", bearer("alice"), json={"installation_status": "installed"}
    )
    await library.call("PATCH", f"{BASE}/gamma", bearer("alice"), json={"hidden": True})
    assert await _ids(library, favorite="true") == ["alpha"]
    assert await _ids(library, installed="true") == ["beta"]
    assert sorted(await _ids(library, installed="false")) == ["alpha", "gamma"]
    assert await _ids(library, hidden="true") == ["gamma"]
    assert await _ids(library, acquisition_type="gift") == ["alpha"]
    assert await _ids(library, platform="linux", sort="name") == ["alpha", "gamma"]
    assert await _ids(library, platform="mac") == []
    _, entry, _ = await library.call("GET", f"{BASE}/alpha", bearer("alice"))
    assert entry["metadata"] == {"platforms": ["windows", "linux"]}


async def test_sorting_by_name_and_added(library: Library) -> None:
    await _shelf(library)
    assert await _ids(library, sort="name") == ["alpha", "beta", "gamma"]
    assert await _ids(library, sort="name", order="desc") == ["gamma", "beta", "alpha"]
    assert await _ids(library, sort="added", order="asc") == ["beta", "alpha", "gamma"]
    assert await _ids(library) == ["gamma", "alpha", "beta"]


@pytest.mark.parametrize("sort", ["name", "added", "playtime", "last_played"])
async def test_cursor_pages_cover_every_game_once(library: Library, sort: str) -> None:
    games = [f"game-{index:02d}" for index in range(7)]
    for game in games:
        await library.grant("alice", game)
    seen: list[str] = []
    query: dict[str, Any] = {"sort": sort, "limit": "3"}
    for _ in range(5):
        status, body, _ = await library.call("GET", f"{BASE}/", bearer("alice"), params=query)
        assert status == 200 and len(body["items"]) <= 3
        seen += [item["game_id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        query["cursor"] = body["next_cursor"]
    assert sorted(seen) == games and len(seen) == len(games)


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "price"},
        {"order": "sideways"},
        {"limit": "0"},
        {"limit": "1000"},
        {"installed": "maybe"},
        {"acquisition_type": "stolen"},
        {"cursor": "bm90IGEgY3Vyc29y"},
        {"cursor": "%%%"},
    ],
)
async def test_bad_listing_queries_are_400(library: Library, query: dict[str, str]) -> None:
    status, body, _ = await library.call("GET", f"{BASE}/", bearer("alice"), params=query)
    assert status == 400 and body["code"] in {"INVALID_QUERY", "INVALID_CURSOR"}


async def test_cursor_from_another_sort_is_refused(library: Library) -> None:
    for game in ("a1", "a2", "a3"):
        await library.grant("alice", game)
    _, body, _ = await library.call(
        "GET", f"{BASE}/", bearer("alice"), params={"sort": "name", "limit": "1"}
    )
    status, problem, _ = await library.call(
        "GET", f"{BASE}/", bearer("alice"), params={"sort": "added", "cursor": body["next_cursor"]}
    )
    assert status == 400 and problem["code"] == "INVALID_CURSOR"


async def test_notes_and_categories_on_an_entry(library: Library) -> None:
    await _shelf(library)
    status, entry, _ = await library.call(
        "PATCH",
        f"{BASE}/alpha",
        bearer("alice"),
        json={"notes": "finish act 2", "categories": ["rpg", "backlog"]},
    )
    assert status == 200
    assert entry["notes"] == "finish act 2" and entry["categories"] == ["backlog", "rpg"]
    await library.call("PATCH", f"{BASE}/beta", bearer("alice"), json={"categories": ["rpg"]})
    assert sorted(await _ids(library, category="rpg")) == ["alpha", "beta"]
    _, shelves, _ = await library.call("GET", f"{BASE}/categories", bearer("alice"))
    assert shelves["items"] == [{"name": "backlog", "games": 1}, {"name": "rpg", "games": 2}]
    status, _, _ = await library.call("DELETE", f"{BASE}/categories/rpg", bearer("alice"))
    assert status == 204
    _, entry, _ = await library.call("GET", f"{BASE}/alpha", bearer("alice"))
    assert entry["categories"] == ["backlog"]
    assert await _ids(library, category="rpg") == []


async def test_categories_are_per_user(library: Library) -> None:
    status, _, _ = await library.call(
        "POST", f"{BASE}/categories", bearer("alice"), json={"name": "cozy"}
    )
    assert status == 201
    _, theirs, _ = await library.call("GET", f"{BASE}/categories", bearer("bob"))
    assert theirs["items"] == []
    status, body, _ = await library.call("DELETE", f"{BASE}/categories/cozy", bearer("bob"))
    assert status == 404 and body["code"] == "CATEGORY_NOT_FOUND"
    status, body, _ = await library.call(
        "POST", f"{BASE}/categories", bearer("bob"), json={"name": "a/b"}
    )
    assert status == 400 and body["code"] == "INVALID_CATEGORY"


async def test_support_reads_and_admin_writes_another_users_library(library: Library) -> None:
    await library.grant("alice", "alpha")
    for user in ("bob", "alice-fan"):
        status, body, _ = await library.call(
            "GET", f"{BASE}/", bearer(user), params={"user_id": "alice"}
        )
        assert status == 403 and body["code"] == "FORBIDDEN"
    support = bearer("helpdesk", Role.SUPPORT)
    status, body, _ = await library.call(
        "GET", f"{BASE}/alpha", support, params={"user_id": "alice"}
    )
    assert status == 200 and body["game_id"] == "alpha"
    status, _, _ = await library.call(
        "PATCH", f"{BASE}/alpha", support, params={"user_id": "alice"}, json={"hidden": True}
    )
    assert status == 403
    status, body, _ = await library.call(
        "PATCH",
        f"{BASE}/alpha",
        bearer("ops", Role.ADMIN),
        params={"user_id": "alice"},
        json={"hidden": True},
    )
    assert status == 200 and body["hidden"] is True
