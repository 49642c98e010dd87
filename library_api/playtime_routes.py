"""``/playtime/start|heartbeat|end`` and ``/playtime/stats``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from library_api import family, payloads, playtime_store
from library_api.auth import acting_for
from library_api.errors import InvalidRequest, InvalidSessionOperation
from library_api.events import PLAYTIME_UPDATED, library_event
from library_api.playtime import (
    PlaySession,
    SessionRules,
    check_end,
    check_heartbeat,
    client_time,
    is_stale,
    stats,
)
from library_api.request_body import json_object
from library_api.responses import json_reply
from library_api.state import BUS, OPTIONS, RULES, STORE
from peerpipe.logs import fields

log = logging.getLogger("library_api.playtime")


def _rules(request: web.Request) -> SessionRules:
    return request.app[RULES]


def _session_id(body: dict[str, Any]) -> str:
    value = body.get("session_id")
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidRequest("MISSING_FIELD", "session_id is required")
    return value


def _session_json(play: PlaySession, request: web.Request) -> dict[str, Any]:
    options = request.app[OPTIONS]
    return {
        **play.to_json(),
        "heartbeat_interval_seconds": options.min_heartbeat_interval_seconds,
        "afk_limit_seconds": options.afk_limit_seconds,
    }


async def _played(request: web.Request, play: PlaySession, **extra: Any) -> None:
    event = library_event(
        PLAYTIME_UPDATED,
        play.user_id,
        game_id=play.game_id,
        session_id=play.session_id,
        seconds=play.seconds,
        reason=play.end_reason,
        **extra,
    )
    await request.app[BUS].publish(event)


async def start_session(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"game_id", "device_id", "at"})
    game = payloads.game_id(body.get("game_id"))
    device = payloads.device_id(body.get("device_id"))
    now = datetime.now(UTC)
    at = client_time(body.get("at"), now, _rules(request))
    try:
        async with request.app[STORE].transaction() as repos:
            owner = await family.copy_to_play(repos.session, user, game)
            play, ended = await playtime_store.start(
                repos.session, user, game, owner, device, at, now, _rules(request)
            )
    except IntegrityError:
        raise InvalidSessionOperation(f"device {device} already has an open session") from None
    for borrowed in ended:
        notice = f"the owner of {game} started playing it; your session has ended"
        await _played(request, borrowed, notice=notice)
    await _played(request, play, started=True)
    log.info("session started", extra=fields(user_id=user, game_id=game, device=device))
    return web.json_response(_session_json(play, request), status=201)


async def heartbeat(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"session_id", "at"})
    session_id = _session_id(body)
    now = datetime.now(UTC)
    rules = _rules(request)
    at = client_time(body.get("at"), now, rules)
    beaten = await request.app[STORE].quick.heartbeat(user, session_id, at, now, rules)
    if beaten is not None:
        return json_reply(_session_json(beaten, request))
    async with request.app[STORE].transaction() as repos:
        play = await playtime_store.find(repos.session, user, session_id)
        if is_stale(play, now, rules):
            play = await playtime_store.close(
                repos.session, play, play.last_heartbeat_at, playtime_store.AFK
            )
        else:
            check_heartbeat(play, at, rules)
            play = await playtime_store.heartbeat(repos.session, play, at)
    if not play.open:
        # Refused after the commit, so the AFK close above is kept.
        raise InvalidSessionOperation(
            f"session {session_id} was closed at its last heartbeat: silent for more than "
            f"{rules.afk_limit.total_seconds():g} s"
        )
    return web.json_response(_session_json(play, request))


async def end_session(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"session_id", "at"})
    session_id = _session_id(body)
    now = datetime.now(UTC)
    rules = _rules(request)
    at = client_time(body.get("at"), now, rules)
    async with request.app[STORE].transaction() as repos:
        play = await playtime_store.find(repos.session, user, session_id)
        if is_stale(play, now, rules):
            closed = await playtime_store.close(
                repos.session, play, play.last_heartbeat_at, playtime_store.AFK
            )
        else:
            check_end(play, at)
            closed = await playtime_store.close(repos.session, play, at, playtime_store.ENDED)
    await _played(request, closed)
    return web.json_response(_session_json(closed, request))


async def playtime_stats(request: web.Request) -> web.Response:
    user = acting_for(request)
    game = request.query.get("game_id")
    if game is not None:
        payloads.game_id(game)
    now = datetime.now(UTC)
    rules = _rules(request)
    async with request.app[STORE].transaction() as repos:
        sessions = await playtime_store.history(repos.session, user, game)
        for play in sessions:
            if is_stale(play, now, rules):
                await playtime_store.close(
                    repos.session, play, play.last_heartbeat_at, playtime_store.AFK
                )
        sessions = await playtime_store.history(repos.session, user, game)
    return web.json_response(stats(sessions, now))


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_post(f"{base}/playtime/start", start_session)
    app.router.add_post(f"{base}/playtime/heartbeat", heartbeat)
    app.router.add_post(f"{base}/playtime/end", end_session)
    app.router.add_get(f"{base}/playtime/stats", playtime_stats)
