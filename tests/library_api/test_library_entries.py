"""A player's own library: listing, entries, edits, and never another player's data."""

from __future__ import annotations

import pytest
from library_support import SERVICE, Library, bearer


async def test_listing_shows_owned_games_with_catalog_titles(library: Library) -> None:
    status, _, _ = await library.call(
        "PUT",
        "/api/v1/library/internal/catalog/space-game",
        SERVICE,
        json={"title": "Space Game", "publisher": "Orbit Works"},
    )
    assert status == 200
    await library.grant("alice", "space-game")
    await library.grant("alice", "unpublished-game", "free")
    status, body, _ = await library.call("GET", "/api/v1/library/", bearer("alice"))
    assert status == 200
    titles = {item["game_id"]: item["title"] for item in body["items"]}
    assert titles == {"space-game": "Space Game", "unpublished-game": "unpublished-game"}
    first = next(item for item in body["items"] if item["game_id"] == "space-game")
    assert first["installation_status"] == "none"
    assert first["acquisition_type"] == "purchase"
    assert first["publisher"] == "Orbit Works"
    assert first["acquired_at"].endswith("Z")


async def test_patch_sets_installation_status_and_flags(library: Library) -> None:
    await library.grant("alice", "space-game")
    status, body, _ = await library.call(
        "PATCH",
        "/api/v1/library/space-game",
        bearer("alice"),
        json={"installation_status": "installed", "favorite": True},
    )
    assert status == 200
    assert body["installation_status"] == "installed" and body["favorite"] is True
    _, entry, _ = await library.call("GET", "/api/v1/library/space-game", bearer("alice"))
    assert entry["installation_status"] == "installed"
    assert entry["favorite"] is True and entry["hidden"] is False


async def test_a_user_never_sees_another_users_games(library: Library) -> None:
    await library.grant("bob", "space-game")
    status, body, _ = await library.call("GET", "/api/v1/library/space-game", bearer("alice"))
    assert status == 404 and body["code"] == "GAME_NOT_IN_LIBRARY"
    status, body, _ = await library.call(
        "PATCH",
        "/api/v1/library/space-game",
        bearer("alice"),
        json={"installation_status": "installed"},
    )
    assert status == 404 and body["code"] == "GAME_NOT_IN_LIBRARY"
    _, listing, _ = await library.call("GET", "/api/v1/library/", bearer("alice"))
    assert listing["items"] == []
    _, own, _ = await library.call("GET", "/api/v1/library/space-game", bearer("bob"))
    assert own["installation_status"] == "none"
    assert "user_id" not in own


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"installation_status": "downloading"}, "INVALID_INSTALLATION_STATUS"),
        ({"installation_status": "none"}, "INVALID_INSTALLATION_STATUS"),
        ({"hidden": "yes"}, "INVALID_FIELD"),
        ({"title": "mine now"}, "UNKNOWN_FIELD"),
        ({}, "MISSING_FIELD"),
    ],
)
async def test_bad_patch_is_a_400_problem(library: Library, body: object, code: str) -> None:
    await library.grant("alice", "space-game")
    status, problem, content_type = await library.call(
        "PATCH", "/api/v1/library/space-game", bearer("alice"), json=body
    )
    assert status == 400 and content_type == "application/problem+json"
    assert problem["code"] == code and problem["detail"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_bad_json_is_a_400_problem(library: Library, raw: bytes) -> None:
    headers = {**SERVICE, "Content-Type": "application/json"}
    status, problem, content_type = await library.call(
        "POST", "/api/v1/library/internal/ownership", headers, data=raw
    )
    assert status == 400 and content_type == "application/problem+json"
    assert problem["code"] == "INVALID_JSON"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"user_id": "alice", "game_id": "g", "acquisition_type": "stolen"}, "INVALID_ACQUISITION_TYPE"),
        ({"user_id": "alice", "game_id": "../etc"}, "INVALID_GAME_ID"),
        ({"user_id": "alice", "game_id": "passkey"}, "INVALID_GAME_ID"),
        ({"user_id": "", "game_id": "g"}, "INVALID_USER_ID"),
        ({"game_id": "g"}, "MISSING_FIELD"),
    ],
)  # fmt: skip
async def test_bad_grant_is_a_400_problem(library: Library, body: object, code: str) -> None:
    status, problem, _ = await library.call(
        "POST", "/api/v1/library/internal/ownership", SERVICE, json=body
    )
    assert status == 400 and problem["code"] == code
