"""The library API application: factory, middlewares, health and metrics."""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from library_api import (
    achievement_routes,
    blob_routes,
    family_routes,
    internal_routes,
    openapi,
    playtime_routes,
    release_key_routes,
    savegame_routes,
    settings_routes,
    user_routes,
    wishlist_routes,
    ws_routes,
)
from library_api.auth import VERIFIER, CachingVerifier
from library_api.database import database_url
from library_api.errors import LibraryConfigError, LibraryError, StoreUnavailable
from library_api.events import EventBus, InProcessEventBus
from library_api.metrics import LibraryMetrics
from library_api.options import LibraryOptions, options_from_config
from library_api.ownership import apply_event
from library_api.playtime import SessionRules
from library_api.redis_events import RedisStreamEventBus, StreamConsumer
from library_api.request_body import refuse_nul
from library_api.save_storage import LocalSaveStorage, SaveStorage, UrlSigner
from library_api.state import BUS, METRICS, OPTIONS, RULES, SAVES, SOCKETS, STORE
from library_api.store import LibraryStore
from peerpipe.config import Config
from peerpipe.problems import Handler, Problem, problem_middleware, problem_response
from peerpipe.service import metrics_handler

BASE_PATH = "/api/v1/library"
log = logging.getLogger("library_api")


@web.middleware
async def library_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every answer; refuse NUL characters; answer the package's errors as
    problems, telling 401 clients which scheme to use.

    One layer (each costs a share of a short request): what else goes wrong is made a problem
    by ``problem_middleware`` around it, and counted here with the status it will get.
    """
    started = time.perf_counter()
    try:
        try:
            refuse_nul(request)
            response = await handler(request)
        except LibraryError as error:
            problem = Problem(
                error.status, error.title, str(error), code=error.code, **error.extensions
            )
            response = _problem(problem, request)
        except Problem as problem:
            response = _problem(problem, request)
    except web.HTTPException as exc:
        _count(request, exc.status, started)
        raise
    except Exception:
        _count(request, 500, started)
        raise
    _count(request, response.status, started)
    return response


def _problem(problem: Problem, request: web.Request) -> web.Response:
    response = problem_response(problem, request.path)
    if problem.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="peerpipe"'
    return response


def _count(request: web.Request, status: int, started: float) -> None:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].count_request(request.method, route, status, time.perf_counter() - started)


async def health(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except StoreUnavailable as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def _database(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.open()
    yield
    await store.close()


def _event_bus(config: Config, options: LibraryOptions) -> EventBus:
    if config.library.redis_url:
        return RedisStreamEventBus(config.library.redis_url, options.events_stream)
    return InProcessEventBus()


def _events(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(app: web.Application) -> AsyncIterator[None]:
        bus, options = app[BUS], app[OPTIONS]
        async with contextlib.AsyncExitStack() as stack:
            await app[SAVES].start()
            stack.push_async_callback(app[SAVES].close)
            await bus.start()
            stack.push_async_callback(bus.close)
            if config.library.redis_url:
                consumer = StreamConsumer(
                    config.library.redis_url,
                    options.payments_stream,
                    options.consumer_group,
                    lambda event: apply_event(app[STORE], bus, event),
                )
                await consumer.start()
                stack.push_async_callback(consumer.close)
            yield

    return run


def _save_storage(app: web.Application, config: Config, options: LibraryOptions) -> SaveStorage:
    """S3 presigned URLs when S3 is configured, else the local store behind signed URLs."""
    if options.s3 is not None and options.s3.endpoint_url:
        # Imported here: aiobotocore is only needed by deployments that use S3.
        from library_api.s3_storage import S3SaveStorage

        return S3SaveStorage(options.s3)
    local = LocalSaveStorage(
        options.save_dir or config.data_dir / "saves", UrlSigner(config.platform_key)
    )
    blob_routes.add_routes(app, local)
    return local


def create_app(config: Config, options: LibraryOptions | None = None) -> web.Application:
    """The library API; its database is opened and migrated when the app starts.

    Events go to Redis Streams when ``config.library.redis_url`` is set, else stay in-process.
    """
    if not config.platform_key:
        raise LibraryConfigError("the platform key is empty: tokens could not be trusted")
    options = options or options_from_config(config)
    # Save uploads stream to the store, so JSON bodies keep aiohttp's 1 MiB limit.
    app = web.Application(middlewares=[problem_middleware, library_guard])
    app[VERIFIER] = CachingVerifier(config.platform_key, config.jwt_public_key_file)
    app[STORE] = LibraryStore(database_url(config))
    app[OPTIONS] = options
    app[RULES] = SessionRules.of(options)
    app[BUS] = _event_bus(config, options)
    app[SOCKETS] = weakref.WeakSet()
    app[SAVES] = _save_storage(app, config, options)
    metrics = LibraryMetrics()
    app[METRICS] = metrics
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_events(config))
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_handler(metrics.registry))
    openapi.add_routes(app)
    internal_routes.add_routes(app, BASE_PATH)
    release_key_routes.add_routes(app, BASE_PATH, config.platform_key)
    ws_routes.add_routes(app, BASE_PATH)
    playtime_routes.add_routes(app, BASE_PATH)
    family_routes.add_routes(app, BASE_PATH)
    achievement_routes.add_routes(app, BASE_PATH)
    wishlist_routes.add_routes(app, BASE_PATH)
    settings_routes.add_routes(app, BASE_PATH)
    savegame_routes.add_routes(app, BASE_PATH)
    user_routes.add_routes(app, BASE_PATH)
    return app
