"""The library API application: factory, middlewares, health and metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from library_api import internal_routes, user_routes
from library_api.auth import VERIFIER
from library_api.database import database_url
from library_api.errors import LibraryConfigError, LibraryError, StoreUnavailable
from library_api.metrics import LibraryMetrics
from library_api.state import METRICS, STORE
from library_api.store import LibraryStore
from peerpipe.config import Config
from peerpipe.problems import Handler, Problem, problem_middleware, problem_response
from peerpipe.service import metrics_handler
from peerpipe.tokens import TokenVerifier

BASE_PATH = "/api/v1/library"
log = logging.getLogger("library_api")


@web.middleware
async def library_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn the package's errors into problems; tell 401 clients which scheme to use."""
    try:
        return await handler(request)
    except LibraryError as error:
        raise Problem(error.status, error.title, str(error), code=error.code) from None
    except Problem as problem:
        if problem.status != 401:
            raise
        response = problem_response(problem, request.path)
        response.headers["WWW-Authenticate"] = 'Bearer realm="peerpipe"'
        return response


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    metrics = request.app[METRICS]
    metrics.requests.labels(method=request.method, route=route, status=response.status).inc()
    metrics.latency.labels(route=route).observe(time.perf_counter() - started)
    return response


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


def create_app(config: Config) -> web.Application:
    """The library API; its database is opened and migrated when the app starts."""
    if not config.platform_key:
        raise LibraryConfigError("the platform key is empty: tokens could not be trusted")
    app = web.Application(middlewares=[count_requests, problem_middleware, library_errors])
    app[VERIFIER] = TokenVerifier(config.platform_key, config.jwt_public_key_file)
    app[STORE] = LibraryStore(database_url(config))
    metrics = LibraryMetrics()
    app[METRICS] = metrics
    app.cleanup_ctx.append(_database)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_handler(metrics.registry))
    internal_routes.add_routes(app, BASE_PATH)
    user_routes.add_routes(app, BASE_PATH)
    return app
