"""The tracker service: ``create_app(config)`` wires announce, scrape, admin API and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from peerpipe.config import Config
from peerpipe.logs import fields
from peerpipe.problems import problem_middleware
from peerpipe.service import metrics_handler
from peerpipe.tokens import TokenVerifier
from tracker import admin_routes, announce_routes
from tracker.access import AccessChecker
from tracker.errors import TrackerError
from tracker.state import STATE, TrackerMetrics, TrackerState
from tracker.swarm_store import MemorySwarmStore, SwarmStore

log = logging.getLogger("tracker")


def create_store(config: Config) -> SwarmStore:
    """The swarm store the configuration asks for."""
    # A peer that missed two announces in a row is gone.
    return MemorySwarmStore(peer_lifetime=2 * config.tracker.announce_interval)


def create_app(config: Config) -> web.Application:
    """The tracker as an aiohttp application (not yet started)."""
    if not config.platform_key:
        raise TrackerError("the tracker needs the platform key (PEERPIPE_PLATFORM_KEY)")
    app = web.Application(middlewares=[problem_middleware])
    state = TrackerState(
        config=config,
        store=create_store(config),
        metrics=TrackerMetrics.create(),
        verifier=TokenVerifier(config.platform_key, config.jwt_public_key_file),
    )
    app[STATE] = state
    app.cleanup_ctx.append(_library_session)
    app.cleanup_ctx.append(_stale_peer_sweeper)
    plain_metrics = metrics_handler(state.metrics.registry)

    async def metrics(request: web.Request) -> web.StreamResponse:
        await _refresh_gauges(state)
        return await plain_metrics(request)

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/api/v1/admin/swarms", admin_routes.register_swarm)
    app.router.add_get("/api/v1/admin/swarms", admin_routes.list_swarms)
    app.router.add_delete("/api/v1/admin/swarms/{info_hash}", admin_routes.remove_swarm)
    app.router.add_get("/announce", announce_routes.missing_passkey)
    app.router.add_get("/scrape", announce_routes.missing_passkey)
    app.router.add_get("/{passkey}/announce", announce_routes.announce)
    app.router.add_get("/{passkey}/scrape", announce_routes.scrape)
    return app


async def health(request: web.Request) -> web.Response:
    totals = await request.app[STATE].store.totals()
    return web.json_response({"status": "ok", "swarms": totals.swarms, "peers": totals.peers})


async def _refresh_gauges(state: TrackerState) -> None:
    totals = await state.store.totals()
    state.metrics.swarms.set(totals.swarms)
    state.metrics.peers.set(totals.peers)


async def _library_session(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    tracker_config = state.config.tracker
    async with aiohttp.ClientSession() as session:
        state.access = AccessChecker(
            session=session,
            library_url=tracker_config.library_url,
            platform_key=state.config.platform_key,
            ttl=tracker_config.access_cache_ttl,
        )
        yield
        state.access = None
    await state.store.close()


async def _stale_peer_sweeper(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    # Stale peers are already skipped on every announce; the sweep frees their memory.
    period = min(max(state.config.tracker.announce_interval / 2, 1.0), 60.0)

    async def sweep() -> None:
        while True:
            await asyncio.sleep(period)
            try:
                dropped = await state.store.purge_stale()
                await _refresh_gauges(state)
            except Exception:
                log.exception("stale peer sweep failed")
                continue
            if dropped:
                log.info("stale peers dropped", extra=fields(count=dropped))

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
