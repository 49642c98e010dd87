"""``/achievements`` for players, ``/internal/achievements/{game_id}`` for publishers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from library_api import achievements, family, payloads
from library_api.achievements import AchievementDefinition
from library_api.activity_models import PlaytimeSession
from library_api.auth import acting_for, internal_caller
from library_api.errors import InvalidRequest, NotFound, Refused
from library_api.events import ACHIEVEMENT_UNLOCKED, library_event
from library_api.playtime import SessionRules
from library_api.request_body import json_object
from library_api.state import BUS, OPTIONS, STORE

ACHIEVEMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_PROGRESS = 2**31 - 1


def _achievement_id(value: Any) -> str:
    if not isinstance(value, str) or ACHIEVEMENT_ID.fullmatch(value) is None:
        raise InvalidRequest("INVALID_FIELD", "achievement ids are 1 to 128 letters, digits, ._-")
    return value


def _definition(raw: Any) -> AchievementDefinition:
    if not isinstance(raw, dict):
        raise InvalidRequest("INVALID_FIELD", "each achievement is a JSON object")
    payloads.reject_unknown(raw, {"id", "name", "description", "hidden", "target"})
    target = raw.get("target", 1)
    if not isinstance(target, int) or isinstance(target, bool) or not 1 <= target <= MAX_PROGRESS:
        raise InvalidRequest("INVALID_FIELD", "target must be a whole number of at least 1")
    hidden = raw.get("hidden", False)
    if not isinstance(hidden, bool):
        raise InvalidRequest("INVALID_FIELD", "hidden must be true or false")
    achievement = _achievement_id(raw.get("id"))
    name = payloads.text_field(raw, "name", achievement)
    return AchievementDefinition(
        achievement_id=achievement,
        name=name,
        description=payloads.notes(raw, "description") or "",
        hidden=hidden,
        target=target,
    )


async def define_achievements(request: web.Request) -> web.Response:
    internal_caller(request)
    game = payloads.game_id(request.match_info["game_id"])
    body = await json_object(request)
    payloads.reject_unknown(body, {"achievements", "server_key"})
    raw = body.get("achievements", [])
    if not isinstance(raw, list) or len(raw) > 1000:
        raise InvalidRequest("INVALID_FIELD", "achievements must be a list of at most 1000")
    definitions = [_definition(item) for item in raw]
    key = body.get("server_key")
    if key is not None:
        if not isinstance(key, str):
            raise InvalidRequest("INVALID_FIELD", "server_key must be a base64 string")
        achievements.public_key(key)
    async with request.app[STORE].transaction() as repos:
        await repos.catalog.ensure(game)
        await achievements.define(repos.session, game, definitions)
        if "server_key" in body:
            await achievements.set_server_key(repos.session, game, key)
    return web.json_response({"game_id": game, "defined": len(definitions)})


def _game_query(request: web.Request) -> str:
    if "game_id" not in request.query:
        raise InvalidRequest("MISSING_FIELD", "game_id is required")
    return payloads.game_id(request.query["game_id"])


async def list_achievements(request: web.Request) -> web.Response:
    user = acting_for(request)
    game = _game_query(request)
    async with request.app[STORE].transaction() as repos:
        await family.copy_to_play(repos.session, user, game)
        items = await achievements.listing(repos.session, user, game)
    unlocked = sum(1 for item in items if item["unlocked"])
    return web.json_response(
        {"game_id": game, "achievements": items, "unlocked": unlocked, "total": len(items)}
    )


async def _playing(request: web.Request, user: str, game: str) -> bool:
    """Whether the player has a live (not AFK) session of the game open right now."""
    rules = SessionRules.of(request.app[OPTIONS])
    since = datetime.now(UTC) - rules.afk_limit
    async with request.app[STORE].transaction() as repos:
        found = await repos.session.execute(
            select(PlaytimeSession.session_id).where(
                PlaytimeSession.user_id == user,
                PlaytimeSession.game_id == game,
                PlaytimeSession.ended_at.is_(None),
                PlaytimeSession.last_heartbeat_at >= since,
            )
        )
        return found.first() is not None


async def unlock(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"game_id", "achievement_id", "progress", "signature"})
    game = payloads.game_id(body.get("game_id"))
    achievement = _achievement_id(body.get("achievement_id"))
    progress = body.get("progress")
    if progress is not None and (
        not isinstance(progress, int)
        or isinstance(progress, bool)
        or not 0 <= progress <= MAX_PROGRESS
    ):
        raise InvalidRequest("INVALID_FIELD", "progress must be a whole number of at least 0")
    signature = body.get("signature")
    async with request.app[STORE].transaction() as repos:
        await family.copy_to_play(repos.session, user, game)
        key = await achievements.server_key(repos.session, game)
    signed = isinstance(signature, str) and achievements.signature_valid(
        key, signature, achievements.signed_message(user, game, achievement, progress)
    )
    if not signed and not await _playing(request, user, game):
        raise Refused(
            "NOT_PLAYING",
            "achievements unlock only during an open playtime session or with the game "
            "server's signature",
        )
    async with request.app[STORE].transaction() as repos:
        unlocked = await achievements.advance(repos.session, user, game, achievement, progress)
        items = await achievements.listing(repos.session, user, game)
    if unlocked:
        await request.app[BUS].publish(
            library_event(ACHIEVEMENT_UNLOCKED, user, game_id=game, achievement_id=achievement)
        )
    item = next((item for item in items if item["achievement_id"] == achievement), None)
    if item is None:
        raise NotFound("ACHIEVEMENT_NOT_FOUND", f"no achievement {achievement}")
    return web.json_response(item)


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_put(f"{base}/internal/achievements/{{game_id}}", define_achievements)
    app.router.add_get(f"{base}/achievements", list_achievements)
    app.router.add_post(f"{base}/achievements/unlock", unlock)
