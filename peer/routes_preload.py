"""``/api/v1/preload``: preload a locked release, watch it, unlock it with the release key."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from peerpipe.problems import Problem

from .errors import AgentError, KeyRefused, ReleaseLocked
from .preloader import NotLocked, Preloader, PreloadNotReady
from .routes_updates import UPDATER
from .updates import WrongReleaseKey

PRELOADER = web.AppKey("preloader", Preloader)


def _game(request: web.Request) -> str:
    return request.match_info["game_id"]


async def start(request: web.Request) -> web.Response:
    run = await request.app[PRELOADER].start_preload(_game(request))
    return web.json_response({"game_id": _game(request), **run.to_json()}, status=202)


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[PRELOADER].status(_game(request)))


async def unlock(request: web.Request) -> web.Response:
    game_id = _game(request)
    body = await request.app[PRELOADER].unlock(game_id)
    # the updater's last check still names the locked release: refresh what launch sees
    with contextlib.suppress(AgentError, OSError, ValueError):
        await request.app[UPDATER].check(game_id)
    return web.json_response(body)


@web.middleware
async def preload_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The preloader's refusals as problem+json."""
    try:
        response: web.StreamResponse = await handler(request)
    except ReleaseLocked as exc:
        raise Problem(
            425, "Too Early", str(exc), code="RELEASE_LOCKED", unlock_at=exc.unlock_at
        ) from None
    except KeyRefused as exc:
        raise Problem(403, "Forbidden", str(exc), code="NOT_OWNER") from None
    except NotLocked as exc:
        raise Problem(409, "Conflict", str(exc), code="NOT_LOCKED") from None
    except PreloadNotReady as exc:
        raise Problem(409, "Conflict", str(exc), code="PRELOAD_NOT_READY") from None
    except WrongReleaseKey as exc:
        raise Problem(502, "Bad Gateway", str(exc), code="WRONG_RELEASE_KEY") from None
    return response


def add_routes(app: web.Application) -> None:
    base = "/api/v1/preload/{game_id}"
    app.router.add_post(base, start)
    app.router.add_get(f"{base}/status", status)
    app.router.add_post(f"{base}/unlock", unlock)
