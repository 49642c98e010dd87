"""publish --unlock-at hands the release key to a real library API on loopback, which keeps
it from non-owners and, before the unlock time, from owners too."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from seeder_helpers import GAME, PASSPHRASE, BuildMaker, random_bytes

from library_api import create_app
from peerpipe.config import Config
from peerpipe.service import free_port, start_app
from peerpipe.tokens import Role, mint_token
from seeder import RegistrationError, publish_release
from seeder.registration import register_release_key
from signing.sealing import key_check

FILES = {"bin/game": random_bytes(300_000, 7)}
UNLOCK_AT = "2030-01-01T18:00:00+00:00"
PLATFORM_KEY = "test-platform-key-" + "x" * 32  # the seeder tests' config fixture


async def _tracker_accepting_swarms() -> Any:
    async def accept(request: web.Request) -> web.Response:
        return web.json_response({}, status=201)

    tracker = web.Application()
    tracker.router.add_post("/api/v1/admin/swarms", accept)
    return await start_app(tracker)


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, user: str, role: Role, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {mint_token(PLATFORM_KEY, user, role)}"}
    async with http.request(method, url, headers=headers, **kw) as response:
        return response.status, await response.json(content_type=None)


async def test_publish_unlock_at_registers_the_key_with_the_library(
    make_build: BuildMaker, publisher_key: Path, config: Config, tmp_path: Path
) -> None:
    assert config.platform_key == PLATFORM_KEY
    database = f"sqlite+aiosqlite:///{tmp_path / 'library.db'}"
    library_config = replace(
        config.with_data_dir(tmp_path / "library"),
        library=replace(config.library, database_url=database),
    )
    library = await start_app(create_app(library_config))
    tracker = await _tracker_accepting_swarms()
    try:
        wired = replace(
            config,
            tracker=replace(config.tracker, public_url=tracker.url),
            library=replace(config.library, public_url=library.url),
        )
        build = make_build(FILES)
        publish = (build, GAME, "1.0", publisher_key, PASSPHRASE, wired, "Space Miner")
        result = await asyncio.to_thread(publish_release, *publish, unlock_at=UNLOCK_AT)
        assert result.release_key is not None
        # A retried registration sends the key kept under <data_dir>/release-keys: no 409.
        await asyncio.to_thread(register_release_key, wired, result.manifest, None)
        base = f"{library.url}/api/v1/library"
        async with aiohttp.ClientSession() as http:
            await _call(
                http, "POST", f"{base}/internal/ownership", "shop", Role.SERVICE,
                json={"user_id": "alice", "game_id": GAME, "acquisition_type": "purchase"},
            )  # fmt: skip
            key_url = f"{base}/{GAME}/releases/1/key"
            status, locked = await _call(http, "GET", key_url, "alice", Role.USER)
            assert (status, locked["code"]) == (425, "RELEASE_LOCKED")
            assert locked["unlock_at"] == UNLOCK_AT
            status, refused = await _call(http, "GET", key_url, "bob", Role.USER)
            assert (status, refused["code"]) == (403, "NOT_OWNER")
            # The library holds exactly the published key: the same one is idempotent.
            deposit = f"{base}/internal/release-keys/{GAME}/1"
            key = result.release_key
            same = {"key": key.hex(), "unlock_at": UNLOCK_AT, "key_check": key_check(key)}
            status, _ = await _call(http, "PUT", deposit, "ops", Role.ADMIN, json=same)
            assert status == 200
    finally:
        await tracker.stop()
        await library.stop()


def test_an_unreachable_library_is_a_clear_error_for_the_key(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    result = publish_release(
        make_build(FILES), GAME, "1.0", publisher_key, PASSPHRASE, config,
        register=False, unlock_at=UNLOCK_AT,
    )  # fmt: skip
    dead = f"http://127.0.0.1:{free_port()}"
    wired = replace(config, library=replace(config.library, public_url=dead))
    with pytest.raises(RegistrationError, match=r"library API at .*release-keys.* unreachable"):
        register_release_key(wired, result.manifest, result.release_key)
