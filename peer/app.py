"""The agent's local API on 127.0.0.1 behind a bearer token: the app factory, health, metrics."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Gauge

from peerpipe.config import Config
from peerpipe.problems import Handler, Problem, problem_middleware
from peerpipe.service import metrics_handler

from . import routes_agent
from .engine import Engine
from .model import DownloadState
from .release import ReleaseSource
from .routes import ENGINE, add_routes, agent_errors

API_TOKEN_FILE = "api.token"
_OPEN_PATHS = frozenset({"/health", "/metrics"})


def load_or_create_api_token(data_dir: Path) -> str:
    """The local API's bearer token, created (mode 0600) on first start."""
    token_file = data_dir / API_TOKEN_FILE
    if token_file.exists():
        return token_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token


def _auth_middleware(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _OPEN_PATHS:
            given = request.headers.get("Authorization", "").encode()
            if not given and request.path == "/api/v1/events":
                # browsers cannot set headers on a WebSocket: the token may come as a query
                given = f"Bearer {request.query.get('token', '')}".encode()
            if not hmac.compare_digest(given, expected):
                raise Problem(
                    401,
                    "Unauthorized",
                    f"send 'Authorization: Bearer <token>' with the token from {API_TOKEN_FILE}",
                    code="AGENT_TOKEN_REQUIRED",
                )
        return await handler(request)

    return require_token


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response({"status": "ok", "bt_port": engine.listen_port})


def _metrics(registry: CollectorRegistry, engine: Engine) -> None:
    downloads = Gauge(
        "peerpipe_agent_downloads", "Downloads by state", ["state"], registry=registry
    )
    transferred = Gauge(
        "peerpipe_agent_download_bytes",
        "Payload bytes received, by source",
        ["source"],
        registry=registry,
    )
    for state in DownloadState:
        downloads.labels(str(state)).set_function(_count_in(engine, state))
    transferred.labels("peer").set_function(lambda: sum(i.peer_bytes for i in engine.live()))
    transferred.labels("cdn").set_function(lambda: sum(i.cdn_bytes for i in engine.live()))


def _count_in(engine: Engine, state: DownloadState) -> Callable[[], float]:
    return lambda: sum(1 for item in engine.live() if item.state is state)


def create_app(config: Config, *, release_source: ReleaseSource | None = None) -> web.Application:
    """The agent: its local API plus the install engine and the updater in the background."""
    # python-tuf loads with the updater, only when an agent app is built
    from . import routes_auto_updates, routes_preload, routes_updates
    from .install_records import InstallRecords
    from .trust import TrustedReleases
    from .updater import Updater

    token = load_or_create_api_token(config.agent.data_dir)
    middlewares = [
        problem_middleware,
        _auth_middleware(token),
        agent_errors,
        routes_updates.update_errors,
        routes_preload.preload_errors,
    ]
    app = web.Application(middlewares=middlewares)
    trusted = TrustedReleases(config.agent)
    engine = Engine(config, release_source=release_source or trusted)
    app[ENGINE] = engine
    agent = config.agent
    updater = Updater(
        engine.install_dir,
        trusted.latest,
        agent.cdn_urls,
        library_url=agent.library_url,
        user_token=agent.user_token,
        installs=InstallRecords(engine),
        download_limit=lambda: engine.limits_now().download,
    )
    app[routes_updates.UPDATER] = updater
    app[routes_preload.PRELOADER] = updater.preloader
    registry = CollectorRegistry()
    _metrics(registry, engine)

    async def start_engine(_: web.Application) -> None:
        await engine.start()
        await updater.start()  # finishes or rolls back updates a crash interrupted

    async def stop_engine(_: web.Application) -> None:
        await updater.close()
        await engine.close()

    app.on_startup.append(start_engine)
    app.on_cleanup.append(stop_engine)
    add_routes(app)
    routes_agent.add_routes(app)
    routes_updates.add_routes(app)
    routes_preload.add_routes(app)
    routes_auto_updates.add_routes(app)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_handler(registry))
    return app
