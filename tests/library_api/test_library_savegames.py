"""Cloud saves: signed URLs, confirmation checks, versions, conflicts, quotas, privacy."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from library_support import Library, bearer

BASE = "/api/v1/library/savegames"


def _meta(data: bytes, **extra: Any) -> dict[str, Any]:
    return {"game_id": "space-game", "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), **extra}  # fmt: skip


async def _ask(library: Library, user: str, data: bytes, **extra: Any) -> tuple[int, Any]:
    status, body, _ = await library.call(
        "POST", f"{BASE}/upload-url", bearer(user), json=_meta(data, **extra)
    )
    return status, body


async def _put(library: Library, upload: dict[str, Any], data: bytes) -> int:
    async with library.http.put(upload["url"], data=data) as response:
        return response.status


async def _confirm(library: Library, user: str, save_id: str, **extra: Any) -> tuple[int, Any]:
    status, body, _ = await library.call(
        "POST", f"{BASE}/confirm-upload", bearer(user), json={"save_id": save_id, **extra}
    )
    return status, body


async def _save(library: Library, user: str, data: bytes, **extra: Any) -> dict[str, Any]:
    status, answer = await _ask(library, user, data, **extra)
    assert status == 201, answer
    assert await _put(library, answer["upload"], data) == 201
    status, confirmed = await _confirm(library, user, answer["save"]["save_id"])
    assert status == 200, confirmed
    save: dict[str, Any] = confirmed["save"]
    return save


async def _download(library: Library, user: str, **body: Any) -> bytes:
    status, answer, _ = await library.call("POST", f"{BASE}/download-url", bearer(user), json=body)
    assert status == 200, answer
    async with library.http.get(answer["download"]["url"]) as response:
        assert response.status == 200
        return await response.read()


async def test_upload_confirm_download_and_versions(library: Library) -> None:
    await library.grant("alice", "space-game")
    first = await _save(library, "alice", b"level 1")
    assert first["version"] == 1 and first["state"] == "confirmed"
    second = await _save(library, "alice", b"level 2", based_on_version=1)
    assert second["version"] == 2 and second["based_on_version"] == 1
    assert await _download(library, "alice", save_id=first["save_id"]) == b"level 1"
    assert await _download(library, "alice", game_id="space-game") == b"level 2"
    _, listing, _ = await library.call(
        "GET", BASE, bearer("alice"), params={"game_id": "space-game"}
    )
    assert [item["version"] for item in listing["items"]] == [2, 1]
    assert listing["quota"]["bytes_used"] == 14 and listing["quota"]["files_used"] == 2


async def test_only_the_newest_versions_are_kept(library: Library) -> None:
    await library.grant("alice", "space-game")
    version = None
    for n in range(5):
        saved = await _save(library, "alice", f"v{n}".encode(), based_on_version=version)
        version = saved["version"]
    _, listing, _ = await library.call("GET", BASE, bearer("alice"))
    assert [item["version"] for item in listing["items"]] == [5, 4, 3]


async def test_a_newer_cloud_version_is_a_conflict_with_both_sides(library: Library) -> None:
    await library.grant("alice", "space-game")
    await _save(library, "alice", b"desktop", device_id="desktop")
    status, problem = await _ask(library, "alice", b"laptop", device_id="laptop")
    assert status == 409 and problem["code"] == "SAVEGAME_CONFLICT"
    assert problem["cloud"]["device_id"] == "desktop" and problem["cloud"]["version"] == 1
    assert (
        problem["local"]["device_id"] == "laptop" and problem["local"]["based_on_version"] is None
    )
    assert problem["resolutions"] == ["keep-both", "take-cloud", "take-local"]
    status, cloud = await _ask(library, "alice", b"laptop", resolution="take-cloud")
    assert status == 200 and cloud["status"] == "take_cloud"
    async with library.http.get(cloud["download"]["url"]) as response:
        assert await response.read() == b"desktop"
    local = await _save(library, "alice", b"laptop", resolution="take-local")
    assert local["version"] == 2 and local["based_on_version"] == 1
    both = await _save(library, "alice", b"third", based_on_version=1, resolution="keep-both")
    assert both["slot"].startswith("default-copy-") and both["version"] == 1
    _, listing, _ = await library.call("GET", BASE, bearer("alice"))
    assert len(listing["items"]) == 3  # nothing confirmed was lost


async def test_two_devices_racing_lose_no_confirmed_save(library: Library) -> None:
    await library.grant("alice", "space-game")
    await _save(library, "alice", b"base")
    datas = [f"device {n}".encode() for n in range(4)]
    asked = [await _ask(library, "alice", data, based_on_version=1) for data in datas]
    for (_, answer), data in zip(asked, datas, strict=True):
        assert await _put(library, answer["upload"], data) == 201
    results = await asyncio.gather(
        *(_confirm(library, "alice", answer["save"]["save_id"]) for _, answer in asked)
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409, 409, 409]
    losers = [answer for (status, _), (_, answer) in zip(results, asked, strict=True)
              if status == 409]  # fmt: skip
    for loser in losers:
        status, kept = await _confirm(
            library, "alice", loser["save"]["save_id"], resolution="keep-both"
        )
        assert status == 200 and kept["save"]["slot"].startswith("default-copy-")
    _, listing, _ = await library.call("GET", BASE, bearer("alice"))
    stored = {item["sha256"] for item in listing["items"]}
    assert {hashlib.sha256(data).hexdigest() for data in datas} <= stored


async def test_confirm_checks_size_and_hash(library: Library) -> None:
    await library.grant("alice", "space-game")
    status, answer = await _ask(library, "alice", b"honest")
    save_id = answer["save"]["save_id"]
    status, problem = await _confirm(library, "alice", save_id)
    assert status == 409 and problem["code"] == "SAVEGAME_NOT_UPLOADED"
    assert await _put(library, answer["upload"], b"HONEST") == 201
    status, problem = await _confirm(library, "alice", save_id)
    assert status == 422 and problem["code"] == "SAVEGAME_INTEGRITY"
    assert await _put(library, answer["upload"], b"much too long") == 413


async def test_signed_urls_cannot_be_altered(library: Library) -> None:
    await library.grant("alice", "space-game")
    _, answer = await _ask(library, "alice", b"data")
    url = answer["upload"]["url"]
    for bad in (
        url.replace("op=put", "op=get"),
        url[:-4] + "0000",
        url.replace("expires=", "expires=1"),
    ):
        async with library.http.put(bad, data=b"data") as response:
            assert response.status == 403
    async with library.http.get(url) as response:
        assert response.status == 403


async def test_quota_in_bytes_and_files(library: Library) -> None:
    await library.grant("alice", "space-game")
    status, problem = await _ask(library, "alice", b"x" * (65 << 10))
    assert status == 403 and problem["code"] == "QUOTA_EXCEEDED"
    for n in range(8):
        await _save(library, "alice", b"slot", slot=f"slot{n}")
    status, problem = await _ask(library, "alice", b"one more", slot="slot9")
    assert status == 403 and problem["files_limit"] == 8


async def test_saves_are_private(library: Library) -> None:
    await library.grant("alice", "space-game")
    await library.grant("bob", "space-game")
    saved = await _save(library, "alice", b"secret")
    _, listing, _ = await library.call("GET", BASE, bearer("bob"))
    assert listing["items"] == []
    status, _, _ = await library.call(
        "POST", f"{BASE}/download-url", bearer("bob"), json={"save_id": saved["save_id"]}
    )
    assert status == 404
    assert (await _confirm(library, "bob", saved["save_id"]))[0] == 404
    status, _, _ = await library.call("DELETE", f"{BASE}/{saved['save_id']}", bearer("bob"))
    assert status == 404
    status, problem = await _ask(library, "mallory", b"x")
    assert status == 404 and problem["code"] == "GAME_NOT_IN_LIBRARY"
    status, _, _ = await library.call("DELETE", f"{BASE}/{saved['save_id']}", bearer("alice"))
    assert status == 204


@pytest.mark.parametrize(
    "extra",
    [{"size": -1}, {"sha256": "XYZ"}, {"slot": "../up"}, {"based_on_version": 0},
     {"resolution": "merge"}, {"colour": "red"}],
)  # fmt: skip
async def test_bad_upload_requests_are_400(library: Library, extra: dict[str, Any]) -> None:
    await library.grant("alice", "space-game")
    body = {**_meta(b"x"), **extra}
    status, problem, _ = await library.call(
        "POST", f"{BASE}/upload-url", bearer("alice"), json=body
    )
    assert status == 400 and problem["code"] in {"INVALID_FIELD", "UNKNOWN_FIELD"}
