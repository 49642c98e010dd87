"""``/api/v1/downloads`` and ``/api/v1/queue``: the download manager over HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from peerpipe.problems import Problem, json_body

from .engine import Engine
from .errors import DownloadConflict, DownloadNotFound, SettingsInvalid

ENGINE = web.AppKey("engine", Engine)


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def _integer(body: dict[str, Any], name: str, minimum: int, default: int | None = None) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise Problem(422, "Unprocessable Content", f"{name} must be an integer >= {minimum}")
    return value


async def _object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise Problem(422, "Unprocessable Content", "the body must be a JSON object")
    return body


async def create_download(request: web.Request) -> web.Response:
    body = await _object(request)
    game_id = body.get("game_id")
    release = body.get("release")
    if not isinstance(game_id, str) or not game_id:
        raise Problem(422, "Unprocessable Content", "game_id must be a non-empty string")
    if release is not None and (
        not isinstance(release, int) or isinstance(release, bool) or release < 1
    ):
        raise Problem(422, "Unprocessable Content", "release must be null or an integer >= 1")
    download = await _engine(request).install(game_id, release)
    return web.json_response(download.to_json(), status=202)


async def list_downloads(request: web.Request) -> web.Response:
    items = await _engine(request).downloads()
    return web.json_response({"items": [item.to_json() for item in items]})


async def get_download(request: web.Request) -> web.Response:
    download = _engine(request).require(request.match_info["download_id"])
    return web.json_response(download.to_json())


async def get_progress(request: web.Request) -> web.Response:
    download = _engine(request).require(request.match_info["download_id"])
    return web.json_response(download.progress_json())


async def change_download(request: web.Request) -> web.Response:
    engine = _engine(request)
    download_id = request.match_info["download_id"]
    action = request.match_info["action"]
    if action == "pause":
        download = await engine.pause(download_id)
    elif action == "resume":
        download = await engine.resume(download_id)
    elif action == "cancel":
        download = await engine.cancel(download_id)
    elif action == "limits":
        body = await _object(request)
        download = await engine.set_limits(
            download_id,
            _integer(body, "download_rate_limit", 0, 0),
            _integer(body, "upload_rate_limit", 0, 0),
        )
    else:
        raise Problem(404, "Not Found", f"no action {action}")
    return web.json_response(download.to_json())


async def delete_download(request: web.Request) -> web.Response:
    await _engine(request).delete(request.match_info["download_id"])
    return web.Response(status=204)


def _queue_json(engine: Engine) -> dict[str, Any]:
    return {
        "max_concurrent_downloads": engine.settings.max_concurrent_downloads,
        "items": [item.to_json() for item in engine.queue()],
    }


async def get_queue(request: web.Request) -> web.Response:
    return web.json_response(_queue_json(_engine(request)))


async def reorder_queue(request: web.Request) -> web.Response:
    body = await _object(request)
    order = body.get("order")
    if not isinstance(order, list) or not all(isinstance(item, str) for item in order):
        raise Problem(422, "Unprocessable Content", "order must be a list of download ids")
    await _engine(request).reorder(order)
    return web.json_response(_queue_json(_engine(request)))


async def set_priority(request: web.Request) -> web.Response:
    body = await _object(request)
    priority = body.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise Problem(422, "Unprocessable Content", "priority must be an integer")
    download = await _engine(request).set_priority(request.match_info["download_id"], priority)
    return web.json_response(download.to_json())


async def pause_all(request: web.Request) -> web.Response:
    await _engine(request).pause_all()
    return web.json_response(_queue_json(_engine(request)))


async def resume_all(request: web.Request) -> web.Response:
    await _engine(request).resume_all()
    return web.json_response(_queue_json(_engine(request)))


@web.middleware
async def agent_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The engine's refusals as problem+json."""
    try:
        response: web.StreamResponse = await handler(request)
    except DownloadNotFound as exc:
        raise Problem(404, "Not Found", str(exc), code="DOWNLOAD_NOT_FOUND") from None
    except DownloadConflict as exc:
        raise Problem(409, "Conflict", str(exc), code="DOWNLOAD_STATE_CONFLICT") from None
    except SettingsInvalid as exc:
        raise Problem(422, "Unprocessable Content", str(exc), code="SETTINGS_INVALID") from None
    return response


def add_routes(app: web.Application) -> None:
    base = "/api/v1"
    app.router.add_post(f"{base}/downloads", create_download)
    app.router.add_get(f"{base}/downloads", list_downloads)
    app.router.add_get(f"{base}/downloads/{{download_id}}", get_download)
    app.router.add_delete(f"{base}/downloads/{{download_id}}", delete_download)
    app.router.add_get(f"{base}/downloads/{{download_id}}/progress", get_progress)
    app.router.add_put(f"{base}/downloads/{{download_id}}/{{action}}", change_download)
    app.router.add_get(f"{base}/queue", get_queue)
    app.router.add_put(f"{base}/queue/reorder", reorder_queue)
    app.router.add_put(f"{base}/queue/{{download_id}}/priority", set_priority)
    app.router.add_post(f"{base}/queue/pause-all", pause_all)
    app.router.add_post(f"{base}/queue/resume-all", resume_all)
