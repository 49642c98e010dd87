"""Running aiohttp applications: on a fixed port for ``serve`` commands, on a free one in tests."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

try:
    import uvloop
except ImportError:  # uvloop is not built for Windows
    uvloop = None  # type: ignore[assignment]


@dataclass
class RunningApp:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_app(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> RunningApp:
    """Serve ``app`` on ``host:port`` (port 0: a free one) and return where it listens."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only through the server sockets
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    bound_port = sockets[0].getsockname()[1] if sockets else port
    return RunningApp(runner=runner, host=host, port=bound_port)


async def serve_forever(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly."""
    running = await start_app(app, host, port)
    # What exists once the service is up (modules, the app, its clients and sessions) lives
    # as long as the process. Frozen, it is left out of the collector's full passes: in the
    # agent each walked ~150,000 objects and held the event loop and every Python thread up
    # for ~100 ms, several times per install (seen in the record and prepare phases).
    gc.freeze()
    try:
        await until_stop_signal()
    finally:
        await running.stop()


async def until_stop_signal() -> None:
    """Return when the process receives SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop's event loop (libuv: cheaper sockets and callbacks than asyncio's,
    a large share of a short request's cost), or asyncio's own where uvloop is not installed
    (it is not built for Windows)."""
    if uvloop is None:
        asyncio.run(main)
    else:
        uvloop.run(main)


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody listens on right now (for components that cannot bind port 0 themselves)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def metrics_handler(
    registry: CollectorRegistry,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A ``/metrics`` handler exposing ``registry`` in the Prometheus text format."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        response = web.Response(body=body)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    return metrics
