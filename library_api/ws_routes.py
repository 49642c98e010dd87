"""``/api/v1/library/ws``: a player's own events, pushed as CloudEvents JSON text frames."""

from __future__ import annotations

import asyncio
import contextlib
import weakref

from aiohttp import WSMsgType, web

from library_api.auth import VERIFIER
from library_api.events import Subscription
from library_api.state import BUS, SOCKETS
from peerpipe.problems import Problem
from peerpipe.tokens import Identity, TokenError

HEARTBEAT_SECONDS = 20.0


def _identity(request: web.Request) -> Identity:
    # Browsers cannot set headers on a WebSocket, so the token may come as ?access_token=.
    header = request.headers.get("Authorization")
    token = request.query.get("access_token")
    if header is None and token:
        header = f"Bearer {token}"
    try:
        return request.app[VERIFIER].verify_header(header)
    except TokenError as exc:
        raise Problem(401, "Unauthorized", str(exc), code="UNAUTHORIZED") from None


async def _push(socket: web.WebSocketResponse, subscription: Subscription, user: str) -> None:
    while True:
        event = await subscription.next()
        if event.user_id == user:
            await socket.send_json(event.to_json())


async def events_socket(request: web.Request) -> web.WebSocketResponse:
    user = _identity(request).user_id
    socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    subscription = request.app[BUS].subscribe()
    try:
        await socket.prepare(request)
        request.app[SOCKETS].add(socket)
        await socket.send_json({"type": "hello", "user_id": user})
        pusher = asyncio.create_task(_push(socket, subscription, user))
        try:
            async for message in socket:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pusher
    finally:
        subscription.close()
    return socket


async def close_sockets(app: web.Application) -> None:
    sockets: weakref.WeakSet[web.WebSocketResponse[bool]] = app[SOCKETS]
    for socket in set(sockets):
        await socket.close(message=b"server shutdown")


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_get(f"{base}/ws", events_socket)
    app.on_shutdown.append(close_sockets)
