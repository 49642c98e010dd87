"""``/settings/{game_id}``: a player's settings for a game, every saved version kept."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from library_api import family, payloads
from library_api.activity_models import GameSettingsVersion
from library_api.auth import acting_for
from library_api.domain import timestamp
from library_api.errors import Conflict, InvalidRequest
from library_api.models import utc_now
from library_api.request_body import json_object
from library_api.state import OPTIONS, STORE

HISTORY_MAX = 100


def _version_json(game: str, row: GameSettingsVersion | None) -> dict[str, Any]:
    if row is None:
        return {"game_id": game, "version": 0, "settings": {}, "device_id": None,
                "updated_at": None}  # fmt: skip
    return {
        "game_id": game,
        "version": row.version,
        "settings": row.settings,
        "device_id": row.device_id or None,
        "updated_at": timestamp(row.updated_at),
    }


def _versions(user: str, game: str, limit: int) -> Any:
    return (
        select(GameSettingsVersion)
        .where(GameSettingsVersion.user_id == user, GameSettingsVersion.game_id == game)
        .order_by(GameSettingsVersion.version.desc())
        .limit(limit)
    )


async def get_settings(request: web.Request) -> web.Response:
    user = acting_for(request)
    game = payloads.game_id(request.match_info["game_id"])
    async with request.app[STORE].transaction() as repos:
        await family.copy_to_play(repos.session, user, game)
        row = (await repos.session.execute(_versions(user, game, 1))).scalar_one_or_none()
    return web.json_response(_version_json(game, row))


async def settings_history(request: web.Request) -> web.Response:
    user = acting_for(request)
    game = payloads.game_id(request.match_info["game_id"])
    async with request.app[STORE].transaction() as repos:
        await family.copy_to_play(repos.session, user, game)
        rows = (await repos.session.execute(_versions(user, game, HISTORY_MAX))).scalars()
        items = [_version_json(game, row) for row in rows]
    return web.json_response({"game_id": game, "items": items})


def _settings_body(body: dict[str, Any], limit: int) -> tuple[dict[str, Any], str, int | None]:
    payloads.reject_unknown(body, {"settings", "device_id", "based_on_version"})
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise InvalidRequest("MISSING_FIELD", "settings must be a JSON object")
    if len(json.dumps(settings)) > limit:
        raise InvalidRequest("INVALID_FIELD", f"settings must be at most {limit} bytes of JSON")
    device = body.get("device_id")
    based_on = body.get("based_on_version")
    if based_on is not None and (not isinstance(based_on, int) or isinstance(based_on, bool)):
        raise InvalidRequest("INVALID_FIELD", "based_on_version must be a whole number")
    return settings, payloads.device_id(device) if device is not None else "", based_on


async def put_settings(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    game = payloads.game_id(request.match_info["game_id"])
    body = await json_object(request)
    settings, device, based_on = _settings_body(body, request.app[OPTIONS].settings_max_bytes)
    try:
        async with request.app[STORE].transaction() as repos:
            await family.copy_to_play(repos.session, user, game)
            current = (await repos.session.execute(_versions(user, game, 1))).scalar_one_or_none()
            version = current.version if current else 0
            if based_on is not None and based_on != version:
                raise Conflict(
                    "SETTINGS_CONFLICT",
                    f"settings changed since version {based_on}",
                    current=_version_json(game, current),
                )
            row = GameSettingsVersion(
                user_id=user, game_id=game, version=version + 1, settings=settings,
                device_id=device, updated_at=utc_now(),
            )  # fmt: skip
            repos.session.add(row)
            await repos.session.flush()
            answer = _version_json(game, row)
    except IntegrityError:
        raise Conflict("SETTINGS_CONFLICT", "settings were saved concurrently; retry") from None
    return web.json_response(answer)


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_get(f"{base}/settings/{{game_id}}", get_settings)
    app.router.add_put(f"{base}/settings/{{game_id}}", put_settings)
    app.router.add_get(f"{base}/settings/{{game_id}}/history", settings_history)
