"""``/api/v1/updates``: check, download (delta update; a preload for a release still locked),
changelog and rollback per game."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from peerpipe.problems import Problem

from .errors import LibraryUnavailable, ReleaseUnavailable
from .updater import GameNotInstalled, Updater
from .updates import (
    ChunkUnavailable,
    NotEnoughSpaceForUpdate,
    RollbackUnavailable,
    UpdateError,
    UpdateInProgress,
)

UPDATER = web.AppKey("updater", Updater)


def _updater(request: web.Request) -> Updater:
    return request.app[UPDATER]


def _game(request: web.Request) -> str:
    return request.match_info["game_id"]


async def list_updates(request: web.Request) -> web.Response:
    return web.json_response({"items": await _updater(request).overview()})


async def get_update(request: web.Request) -> web.Response:
    return web.json_response(await _updater(request).status(_game(request)))


async def check(request: web.Request) -> web.Response:
    result = await _updater(request).check(_game(request))
    return web.json_response(result.to_json())


async def download(request: web.Request) -> web.Response:
    run = await _updater(request).download(_game(request))
    return web.json_response({"game_id": _game(request), **run.to_json()}, status=202)


async def changelog(request: web.Request) -> web.Response:
    return web.json_response(await _updater(request).changelog(_game(request)))


async def rollback(request: web.Request) -> web.Response:
    pointer = await _updater(request).rollback(_game(request))
    body = {"game_id": _game(request), "release": pointer.release, "previous": pointer.previous}
    return web.json_response(body)


_PROBLEMS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (GameNotInstalled, 404, "Not Found", "GAME_NOT_INSTALLED"),
    (UpdateInProgress, 409, "Conflict", "UPDATE_IN_PROGRESS"),
    (RollbackUnavailable, 409, "Conflict", "ROLLBACK_UNAVAILABLE"),
    (NotEnoughSpaceForUpdate, 507, "Insufficient Storage", "NOT_ENOUGH_SPACE"),
    (ChunkUnavailable, 502, "Bad Gateway", "CHUNK_UNAVAILABLE"),
    (ReleaseUnavailable, 502, "Bad Gateway", "RELEASE_UNAVAILABLE"),
    (LibraryUnavailable, 502, "Bad Gateway", "LIBRARY_UNAVAILABLE"),
    (UpdateError, 409, "Conflict", "UPDATE_FAILED"),
)


@web.middleware
async def update_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The updater's refusals as problem+json."""
    try:
        response: web.StreamResponse = await handler(request)
    except (GameNotInstalled, ReleaseUnavailable, LibraryUnavailable, UpdateError) as exc:
        for kind, status, title, code in _PROBLEMS:
            if isinstance(exc, kind):
                raise Problem(status, title, str(exc), code=code) from None
        raise
    return response


def add_routes(app: web.Application) -> None:
    base = "/api/v1/updates"
    app.router.add_get(base, list_updates)
    app.router.add_get(f"{base}/{{game_id}}", get_update)
    app.router.add_post(f"{base}/{{game_id}}/check", check)
    app.router.add_post(f"{base}/{{game_id}}/download", download)
    app.router.add_get(f"{base}/{{game_id}}/changelog", changelog)
    app.router.add_post(f"{base}/{{game_id}}/rollback", rollback)
