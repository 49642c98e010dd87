"""Endpoints for other services and admins: ownership, access checks, the catalog."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from library_api import access, family, payloads
from library_api.auth import internal_caller
from library_api.domain import AccessDecision, CatalogGame
from library_api.errors import InvalidRequest
from library_api.events import CloudEvent
from library_api.ownership import apply_event, grant_game, revoke_game
from library_api.request_body import json_object
from library_api.state import BUS, METRICS, STORE
from library_api.store import Repositories
from peerpipe.logs import fields

log = logging.getLogger("library_api.internal")


async def grant_ownership(request: web.Request) -> web.Response:
    by = internal_caller(request)
    grant = payloads.ownership_grant(await json_object(request))
    item = await grant_game(request.app[STORE], request.app[BUS], grant)
    assert item is not None, "a grant without an event always applies"
    request.app[METRICS].ownership_changes.labels(change="grant").inc()
    log.info(
        "ownership granted",
        extra=fields(user_id=grant.user_id, game_id=grant.game_id, by=by.user_id),
    )
    return web.json_response(item.to_internal_json(), status=201)


async def revoke_ownership(request: web.Request) -> web.Response:
    by = internal_caller(request)
    user, game = request.match_info["user_id"], request.match_info["game_id"]
    await revoke_game(request.app[STORE], request.app[BUS], user, game)
    request.app[METRICS].ownership_changes.labels(change="revoke").inc()
    log.info("ownership revoked", extra=fields(user_id=user, game_id=game, by=by.user_id))
    return web.Response(status=204)


async def check_access(request: web.Request) -> web.Response:
    internal_caller(request)
    decision = await _decide(request, *_access_question(request.query))
    request.app[METRICS].access_checks.labels(allowed=str(decision.allowed).lower()).inc()
    return web.json_response(decision.to_json())


# Questions one access batch may ask (the tracker refreshes its cached answers in batches).
MAX_ACCESS_QUESTIONS = 500


async def check_access_batch(request: web.Request) -> web.Response:
    """Many access questions in one request and one transaction: answers in question order."""
    internal_caller(request)
    body = await json_object(request)
    questions = body.get("questions")
    if not isinstance(questions, list) or not questions:
        raise InvalidRequest("MISSING_FIELD", "questions must be a non-empty list")
    if len(questions) > MAX_ACCESS_QUESTIONS:
        raise InvalidRequest(
            "INVALID_FIELD", f"at most {MAX_ACCESS_QUESTIONS} questions per request"
        )
    asked = []
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            raise InvalidRequest("INVALID_FIELD", f"questions[{index}] must be an object")
        asked.append(_access_question(question, f"questions[{index}]"))
    async with request.app[STORE].transaction() as repos:
        decisions = [await _decide_with(repos, *question) for question in asked]
    counter = request.app[METRICS].access_checks
    for decision in decisions:
        counter.labels(allowed=str(decision.allowed).lower()).inc()
    return web.json_response({"answers": [decision.to_json() for decision in decisions]})


def _access_question(
    question: Mapping[str, object], where: str = ""
) -> tuple[str, str | None, str | None]:
    """``(game_id, passkey, user_id)`` of one access question (a query, or one question of a
    batch, named by ``where`` in errors), exactly one of the last two."""

    def text(name: str) -> str | None:
        value = question.get(name)
        if value is None or isinstance(value, str):
            return value
        raise InvalidRequest("INVALID_FIELD", f"{where} fields must be strings".strip())

    game, passkey, user = text("game_id"), text("passkey"), text("user_id")
    prefix = f"{where}: " if where else ""
    if game is None:
        raise InvalidRequest("MISSING_FIELD", f"{prefix}game_id is required")
    if (passkey is None) == (user is None):
        raise InvalidRequest("MISSING_FIELD", f"{prefix}give exactly one of passkey or user_id")
    return game, passkey, user


async def _decide(
    request: web.Request, game: str, passkey: str | None, user: str | None
) -> AccessDecision:
    async with request.app[STORE].transaction() as repos:
        return await _decide_with(repos, game, passkey, user)


async def _decide_with(
    repos: Repositories, game: str, passkey: str | None, user: str | None
) -> AccessDecision:
    if user is None:
        assert passkey is not None
        passkey = passkey.lower()
        if not access.is_passkey(passkey):
            return access.unknown_passkey()
        holder = await repos.passkeys.holder(passkey)
        if holder is None or holder.revoked:
            return access.decide_for_passkey(holder, game, None)
        user = holder.user_id
    entry = await repos.ownership.find(user, game)
    if entry is not None and entry.owned:
        return access.decide_for_user(user, game, entry)
    borrowed = await family.shared_copy(repos.session, user, game)
    if borrowed is not None:
        return access.shared_by_family(user, game, borrowed)
    return access.decide_for_user(user, game, entry)


async def put_catalog(request: web.Request) -> web.Response:
    internal_caller(request)
    game = payloads.game_id(request.match_info["game_id"])
    title, publisher, details = payloads.catalog_fields(await json_object(request))
    entry = CatalogGame(game_id=game, title=title, publisher=publisher, details=details)
    async with request.app[STORE].transaction() as repos:
        await repos.catalog.put(entry)
    log.info("catalog entry stored", extra=fields(game_id=game))
    return web.json_response(entry.to_json())


async def receive_event(request: web.Request) -> web.Response:
    """A CloudEvent (structured JSON) from another service, e.g. ``payment.purchase.completed``."""
    internal_caller(request)
    event = CloudEvent.from_json(await json_object(request))
    applied = await apply_event(request.app[STORE], request.app[BUS], event)
    return web.json_response({"id": event.id, "applied": applied}, status=202)


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/internal/events", receive_event)
    app.router.add_post(f"{base}/internal/ownership", grant_ownership)
    app.router.add_delete(f"{base}/internal/ownership/{{user_id}}/{{game_id}}", revoke_ownership)
    app.router.add_get(f"{base}/internal/access", check_access)
    app.router.add_post(f"{base}/internal/access/batch", check_access_batch)
    app.router.add_put(f"{base}/internal/catalog/{{game_id}}", put_catalog)
