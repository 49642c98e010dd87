"""What a player sees of their own library: passkey, owned games, per-game state."""

from __future__ import annotations

import logging

from aiohttp import web

from library_api import categories, payloads
from library_api.auth import acting_for, caller
from library_api.errors import GameNotInLibrary, NotFound
from library_api.listing import library_query
from library_api.request_body import json_object
from library_api.responses import json_reply
from library_api.state import OPTIONS, STORE
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
    user = acting_for(request)
    query = library_query(request.query, request.app[OPTIONS].page_size_max)
    return json_reply(await request.app[STORE].quick.library_page(user, query))


async def list_categories(request: web.Request) -> web.Response:
    user = acting_for(request)
    async with request.app[STORE].transaction() as repos:
        found = await categories.listing(repos.session, user)
    return web.json_response({"items": [{"name": name, "games": count} for name, count in found]})


async def create_category(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"name"})
    name = payloads.category(body.get("name"))
    async with request.app[STORE].transaction() as repos:
        await repos.users.ensure(user)
        await categories.create(repos.session, user, name)
    return web.json_response({"name": name, "games": 0}, status=201)


async def delete_category(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    name = request.match_info["name"]
    async with request.app[STORE].transaction() as repos:
        existed = await categories.remove(repos.session, user, name)
    if not existed:
        raise NotFound("CATEGORY_NOT_FOUND", f"category {name!r} does not exist")
    return web.Response(status=204)


async def get_entry(request: web.Request) -> web.Response:
    user = acting_for(request)
    game = request.match_info["game_id"]
    async with request.app[STORE].transaction() as repos:
        item = await repos.ownership.find(user, game)
    if item is None or not item.owned:
        raise GameNotInLibrary(game)
    return web.json_response(item.to_json())


async def patch_entry(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
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
    app.router.add_get(f"{base}/categories", list_categories)
    app.router.add_post(f"{base}/categories", create_category)
    app.router.add_delete(f"{base}/categories/{{name}}", delete_category)
    app.router.add_get(f"{base}/", list_library)
    app.router.add_get(base, list_library)
    app.router.add_get(f"{base}/{{game_id}}", get_entry)
    app.router.add_patch(f"{base}/{{game_id}}", patch_entry)
