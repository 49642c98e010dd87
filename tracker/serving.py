"""Serving the tracker: its listener in front of the app, one process or several sharing ports."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from peerpipe.logs import fields
from peerpipe.service import until_stop_signal
from tracker.http_accept import Acceptor, listening_sockets
from tracker.http_server import Listener
from tracker.native import compiled_modules
from tracker.options import TrackerOptions
from tracker.state import STATE

log = logging.getLogger("tracker.http")

# Idle keep-alive connections are closed after between one and two of these.
IDLE_SECONDS = 60.0


@dataclass
class RunningTracker:
    """A tracker app being served; ``stop()`` closes every connection and cleans the app up."""

    runner: web.AppRunner
    acceptor: Acceptor
    host: str
    port: int
    _listener: Listener
    _idle_sweep: asyncio.Task[None]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._idle_sweep.done():
            return  # stopped already
        self._idle_sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._idle_sweep
        self.acceptor.close()
        await self.acceptor.wait_closed()
        for connection in list(self._listener.connections):
            connection.close()
        await self.runner.cleanup()


async def _close_idle(listener: Listener) -> None:
    while True:
        await asyncio.sleep(IDLE_SECONDS)
        for connection in list(listener.connections):
            if connection.idle_checked == connection.activity:
                connection.close()
            connection.idle_checked = connection.activity


async def start_tracker(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, reuse_port: bool = False
) -> RunningTracker:
    """Serve the tracker ``app`` (from :func:`tracker.create_app`) on ``host:port``.

    Port 0 picks a free port. ``reuse_port`` lets several processes share the port
    (SO_REUSEPORT), each answering the connections the kernel gives it.
    """
    options = app[STATE].options
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **_aiohttp_limits(options))
    await runner.setup()
    aiohttp_server = runner.server
    assert aiohttp_server is not None
    listener = Listener(app[STATE], options, aiohttp_server)
    try:
        sockets = listening_sockets(host, port, reuse_port, backlog=1024)
    except BaseException:
        await runner.cleanup()
        raise
    acceptor = Acceptor(listener, sockets)
    acceptor.start()
    bound = sockets[0].getsockname()[1] if sockets else port
    log.info(
        "tracker listening",
        extra=fields(
            host=host, port=bound, reuse_port=reuse_port, compiled_modules=len(compiled_modules())
        ),
    )
    sweep = asyncio.create_task(_close_idle(listener))
    return RunningTracker(runner, acceptor, host, bound, listener, sweep)


async def serve_until_stopped(
    app: web.Application, host: str, port: int, reuse_port: bool = False
) -> None:
    """Serve the tracker ``app`` until SIGINT or SIGTERM, then shut down cleanly."""
    running = await start_tracker(app, host, port, reuse_port)
    # Everything built so far (modules, the app, the listener) lives as long as the process.
    # Frozen, it is left out of the collector's full passes, each of which would otherwise walk
    # it all and hold every announce up for tens of milliseconds.
    gc.freeze()
    try:
        await until_stop_signal()
    finally:
        await running.stop()


def _aiohttp_limits(options: TrackerOptions) -> dict[str, Any]:
    # The same limits for requests aiohttp parses (admin API, handed-over connections).
    return {
        "max_line_size": options.max_request_line,
        "max_field_size": options.max_header_size,
        "max_headers": options.max_headers,
    }
