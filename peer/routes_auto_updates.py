"""``/api/v1/auto-updates``: the player's automatic-update settings and the scheduled run."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from peerpipe.logs import fields

from .auto_updates import SETTING_NAME, AutoUpdateSettings
from .errors import AgentError
from .routes import ENGINE
from .routes_updates import UPDATER
from .updates import UpdateInProgress, installed_games

log = logging.getLogger("peerpipe.peer.auto_updates")


async def _settings(request: web.Request) -> AutoUpdateSettings:
    stored = await request.app[ENGINE].store.setting(SETTING_NAME)
    return AutoUpdateSettings().updated(json.loads(stored)) if stored else AutoUpdateSettings()


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response((await _settings(request)).to_json())


async def put_settings(request: web.Request) -> web.Response:
    try:
        changes: Any = await request.json()
    except ValueError:
        changes = None
    settings = (await _settings(request)).updated(changes)
    await request.app[ENGINE].store.put_setting(SETTING_NAME, json.dumps(settings.to_json()))
    return web.json_response(settings.to_json())


async def schedule(request: web.Request) -> web.Response:
    """Check every installed game now; start the updates found when auto-updates allow it
    (the preloads, for releases still locked)."""
    settings = await _settings(request)
    allowed = settings.allows(datetime.now().time())
    updater = request.app[UPDATER]
    checked: list[dict[str, Any]] = []
    started: list[dict[str, Any]] = []
    games = await asyncio.to_thread(installed_games, request.app[ENGINE].install_dir())
    for game in games:
        try:
            check = await updater.check(game.game_id)
        except (AgentError, OSError, ValueError) as exc:
            checked.append({"game_id": game.game_id, "error": str(exc)})
            continue
        checked.append({"game_id": game.game_id, **check.to_json()})
        if allowed and check.available:
            # a release still locked is preloaded (once), not installed
            try:
                run = await updater.download(game.game_id)
            except UpdateInProgress:
                continue
            except AgentError as exc:
                checked[-1]["error"] = str(exc)
                continue
            if run.state != "preloaded":
                started.append({"game_id": game.game_id, **run.to_json()})
    log.info("auto-update run", extra=fields(allowed=allowed, started=len(started)))
    return web.json_response({"allowed": allowed, "checked": checked, "started": started})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/auto-updates/settings", get_settings)
    app.router.add_put("/api/v1/auto-updates/settings", put_settings)
    app.router.add_post("/api/v1/auto-updates/schedule", schedule)
