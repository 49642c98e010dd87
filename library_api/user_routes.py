"""What a player sees of their own library: passkey, owned games, per-game state."""

from __future__ import annotations

import logging

from aiohttp import web

from library_api import payloads
from library_api.auth import caller
from library_api.errors import GameNotInLibrary
from library_api.request_body import json_object
from library_api.state import STORE
from peerpipe.logs import fields

log = logging.getLogger("library_api.user")


async def get_passkey(request: web.Request) -> web.Response:
    user = caller(request).user_id
    async with request.app[STORE].transaction() as repos:
        await repos.users.ensure(user)
        passkey = await repos.passkeys.issue(user)
    return web.json_response({"passkey": passkey})


async def rotate_passkey(request: web.Request) -> web.Response:
    user = caller(request).user_id
    async with request.app[STORE].transaction() as repos:
        await repos.users.ensure(user)
        passkey = await repos.passkeys.rotate(user)
    log.info("passkey rotated", extra=fields(user_id=user))
    return web.json_response({"passkey": passkey})


async def list_library(request: web.Request) -> web.Response:
    user = caller(request).user_id
    async with request.app[STORE].transaction() as repos:
        items = await repos.ownership.owned(user)
    return web.json_response({"items": [item.to_json() for item in items]})


async def get_entry(request: web.Request) -> web.Response:
    user = caller(request).user_id
    game = request.match_info["game_id"]
    async with request.app[STORE].transaction() as repos:
        item = await repos.ownership.find(user, game)
    if item is None or not item.owned:
        raise GameNotInLibrary(game)
    return web.json_response(item.to_json())


async def patch_entry(request: web.Request) -> web.Response:
    user = caller(request).user_id
    game = request.match_info["game_id"]
    changes = payloads.entry_changes(await json_object(request))
    async with request.app[STORE].transaction() as repos:
        item = await repos.ownership.change(user, game, changes)
    if item is None:
        raise GameNotInLibrary(game)
    log.info("library entry changed", extra=fields(user_id=user, game_id=game))
    return web.json_response(item.to_json())


def add_routes(app: web.Application, base: str) -> None:
    """Register after the internal routes: ``/{game_id}`` would otherwise catch them."""
    app.router.add_get(f"{base}/passkey", get_passkey)
    app.router.add_post(f"{base}/passkey/rotate", rotate_passkey)
    app.router.add_get(f"{base}/", list_library)
    app.router.add_get(base, list_library)
    app.router.add_get(f"{base}/{{game_id}}", get_entry)
    app.router.add_patch(f"{base}/{{game_id}}", patch_entry)
