"""Endpoints for other services and admins: ownership, access checks, the catalog."""

from __future__ import annotations

import logging

from aiohttp import web

from library_api import access, payloads
from library_api.auth import internal_caller
from library_api.domain import AccessDecision, CatalogGame
from library_api.errors import GameNotInLibrary, InvalidRequest
from library_api.request_body import json_object
from library_api.state import METRICS, STORE
from peerpipe.logs import fields

log = logging.getLogger("library_api.internal")


async def grant_ownership(request: web.Request) -> web.Response:
    by = internal_caller(request)
    grant = payloads.ownership_grant(await json_object(request))
    async with request.app[STORE].transaction() as repos:
        await repos.users.ensure(grant.user_id)
        await repos.catalog.ensure(grant.game_id)
        item = await repos.ownership.grant(grant)
    request.app[METRICS].ownership_changes.labels(change="grant").inc()
    log.info(
        "ownership granted",
        extra=fields(user_id=grant.user_id, game_id=grant.game_id, by=by.user_id),
    )
    return web.json_response(item.to_internal_json(), status=201)


async def revoke_ownership(request: web.Request) -> web.Response:
    by = internal_caller(request)
    user, game = request.match_info["user_id"], request.match_info["game_id"]
    async with request.app[STORE].transaction() as repos:
        existed = await repos.ownership.revoke(user, game)
    if not existed:
        raise GameNotInLibrary(game)
    request.app[METRICS].ownership_changes.labels(change="revoke").inc()
    log.info("ownership revoked", extra=fields(user_id=user, game_id=game, by=by.user_id))
    return web.Response(status=204)


async def check_access(request: web.Request) -> web.Response:
    internal_caller(request)
    query = request.query
    if "game_id" not in query:
        raise InvalidRequest("MISSING_FIELD", "game_id is required")
    if ("passkey" in query) == ("user_id" in query):
        raise InvalidRequest("MISSING_FIELD", "give exactly one of passkey or user_id")
    decision = await _decide(request, query["game_id"], query.get("passkey"), query.get("user_id"))
    request.app[METRICS].access_checks.labels(allowed=str(decision.allowed).lower()).inc()
    return web.json_response(decision.to_json())


async def _decide(
    request: web.Request, game: str, passkey: str | None, user: str | None
) -> AccessDecision:
    async with request.app[STORE].transaction() as repos:
        if user is not None:
            return access.decide_for_user(user, game, await repos.ownership.find(user, game))
        assert passkey is not None
        passkey = passkey.lower()
        if not access.is_passkey(passkey):
            return access.unknown_passkey()
        holder = await repos.passkeys.holder(passkey)
        entry = None if holder is None else await repos.ownership.find(holder.user_id, game)
        return access.decide_for_passkey(holder, game, entry)


async def put_catalog(request: web.Request) -> web.Response:
    internal_caller(request)
    game = payloads.game_id(request.match_info["game_id"])
    title, publisher, details = payloads.catalog_fields(await json_object(request))
    entry = CatalogGame(game_id=game, title=title, publisher=publisher, details=details)
    async with request.app[STORE].transaction() as repos:
        await repos.catalog.put(entry)
    log.info("catalog entry stored", extra=fields(game_id=game))
    return web.json_response(entry.to_json())


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/internal/ownership", grant_ownership)
    app.router.add_delete(f"{base}/internal/ownership/{{user_id}}/{{game_id}}", revoke_ownership)
    app.router.add_get(f"{base}/internal/access", check_access)
    app.router.add_put(f"{base}/internal/catalog/{{game_id}}", put_catalog)
