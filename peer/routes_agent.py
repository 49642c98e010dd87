"""``/content``, ``/settings``, ``/stats``, ``/regions`` and the WebSocket progress stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import WSMsgType, web

from peerpipe.problems import Problem, json_body

from .content import (
    installed_download,
    installed_manifest,
    manifest_json,
    storage_json,
    verify_game,
)
from .engine import Engine
from .routes import ENGINE

_STREAM_INTERVAL = 0.25  # progress events are sent at most this often


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


async def get_manifest(request: web.Request) -> web.Response:
    _, manifest = await installed_manifest(_engine(request), request.match_info["game_id"])
    return web.json_response(manifest_json(manifest))


async def verify(request: web.Request) -> web.Response:
    return web.json_response(await verify_game(_engine(request), request.match_info["game_id"]))


async def repair(request: web.Request) -> web.Response:
    engine = _engine(request)
    download = installed_download(engine, request.match_info["game_id"])
    repaired = await engine.repair(download.id)
    return web.json_response(repaired.to_json(), status=202)


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_engine(request).settings.to_json())


async def put_settings(request: web.Request) -> web.Response:
    settings = await _engine(request).update_settings(await json_body(request))
    return web.json_response(settings.to_json())


async def bandwidth(request: web.Request) -> web.Response:
    engine = _engine(request)
    items = engine.live()
    limits = engine.limits_now()
    return web.json_response(
        {
            "download_rate": sum(item.download_rate for item in items),
            "upload_rate": sum(item.upload_rate for item in items),
            "peer_bytes": sum(item.peer_bytes for item in items),
            "cdn_bytes": sum(item.cdn_bytes for item in items),
            "download_rate_limit": limits.download,
            "upload_rate_limit": limits.upload,
            "banned_peers": engine.banned_peers,
        }
    )


async def storage(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(storage_json, _engine(request)))


async def regions(request: web.Request) -> web.Response:
    engine = _engine(request)
    runtime = engine.runtime
    await runtime.nodes.probe(runtime.http)
    ranked = runtime.nodes.ranked(engine.settings.preferred_region, time.monotonic())
    return web.json_response(
        {
            "preferred": engine.settings.preferred_region or None,
            "nodes": [node.to_json() for node in ranked],
        }
    )


async def set_preferred_region(request: web.Request) -> web.Response:
    body = await json_body(request)
    region = body.get("region") if isinstance(body, dict) else None
    if region is not None and not isinstance(region, str):
        raise Problem(422, "Unprocessable Content", "region must be a string or null")
    settings = await _engine(request).update_settings({"preferred_region": region or ""})
    return web.json_response({"preferred": settings.preferred_region or None})


async def progress_stream(request: web.Request) -> web.WebSocketResponse:
    """Sends ``{"type": "progress", "download": {...}}`` for every download that changed."""
    engine = _engine(request)
    socket = web.WebSocketResponse(heartbeat=20)
    await socket.prepare(request)
    reader = asyncio.create_task(_drain_client(socket))
    sent: dict[str, dict[str, Any]] = {}
    version = -1
    try:
        while not socket.closed and not reader.done():
            for item in engine.live():
                event = item.progress_json()
                if sent.get(item.id) != event:
                    sent[item.id] = event
                    await socket.send_json({"type": "progress", "download": event})
            with contextlib.suppress(TimeoutError):
                version = await asyncio.wait_for(engine.changes(version), timeout=5)
            await asyncio.sleep(_STREAM_INTERVAL)
    except ConnectionResetError:
        pass
    finally:
        reader.cancel()
        await socket.close()
    return socket


async def _drain_client(socket: web.WebSocketResponse) -> None:
    async for message in socket:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


def add_routes(app: web.Application) -> None:
    base = "/api/v1"
    app.router.add_get(f"{base}/content/{{game_id}}/manifest", get_manifest)
    app.router.add_post(f"{base}/content/{{game_id}}/verify", verify)
    app.router.add_post(f"{base}/content/{{game_id}}/repair", repair)
    app.router.add_get(f"{base}/settings", get_settings)
    app.router.add_put(f"{base}/settings", put_settings)
    app.router.add_get(f"{base}/stats/bandwidth", bandwidth)
    app.router.add_get(f"{base}/stats/storage", storage)
    app.router.add_get(f"{base}/regions", regions)
    app.router.add_put(f"{base}/regions/preferred", set_preferred_region)
    app.router.add_get(f"{base}/events", progress_stream)
