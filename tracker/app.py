"""The tracker service: ``create_app(config)`` wires announce, scrape, admin API and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
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
from tracker.backend import create_backend
from tracker.errors import TrackerError
from tracker.options import TrackerOptions
from tracker.state import STATE, TrackerMetrics, TrackerState
from tracker.udp_server import start_udp_tracker

log = logging.getLogger("tracker")


def _trusted_proxies(
    config: Config,
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in config.tracker.trusted_proxies
        )
    except ValueError as exc:
        raise TrackerError(f"PEERPIPE_TRACKER_TRUSTED_PROXIES: {exc}") from None


def create_app(config: Config, options: TrackerOptions | None = None) -> web.Application:
    """The tracker as an aiohttp application (not yet started)."""
    if not config.platform_key:
        raise TrackerError("the tracker needs the platform key (PEERPIPE_PLATFORM_KEY)")
    options = options or TrackerOptions()
    app = web.Application(
        middlewares=[problem_middleware],
        # Oversized request lines and headers are refused by the parser (HTTP 400).
        handler_args={
            "max_line_size": options.max_request_line,
            "max_field_size": options.max_header_size,
            "max_headers": options.max_headers,
        },
        client_max_size=64 * 1024,
    )
    state = TrackerState(
        config=config,
        options=options,
        backend=create_backend(config, options),
        metrics=TrackerMetrics.create(),
        verifier=TokenVerifier(config.platform_key, config.jwt_public_key_file),
        trusted_proxies=_trusted_proxies(config),
    )
    app[STATE] = state
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(_stale_peer_sweeper)
    plain_metrics = metrics_handler(state.metrics.registry)

    async def metrics(request: web.Request) -> web.StreamResponse:
        await _refresh_gauges(state)
        return await plain_metrics(request)

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    admin_routes.add_routes(app)
    app.router.add_get("/announce", announce_routes.missing_passkey)
    app.router.add_get("/scrape", announce_routes.missing_passkey)
    app.router.add_get("/{passkey}/announce", announce_routes.announce)
    app.router.add_get("/{passkey}/scrape", announce_routes.scrape)
    return app


async def health(request: web.Request) -> web.Response:
    totals = await request.app[STATE].backend.store.totals()
    return web.json_response({"status": "ok", "swarms": totals.swarms, "peers": totals.peers})


async def _refresh_gauges(state: TrackerState) -> None:
    totals = await state.backend.store.totals()
    state.metrics.swarms.set(totals.swarms)
    state.metrics.peers.set(totals.peers)


async def _services(app: web.Application) -> AsyncIterator[None]:
    """The library client, the revocation feed and the UDP endpoint, for the app's lifetime."""
    state = app[STATE]
    tracker_config = state.config.tracker
    backend = state.backend
    async with aiohttp.ClientSession() as session:
        access = AccessChecker(
            session=session,
            library_url=tracker_config.library_url,
            platform_key=state.config.platform_key,
            ttl=tracker_config.access_cache_ttl,
            shared=backend.shared_access,
        )
        state.access = access

        async def revoked(user_id: str, game_id: str) -> None:
            dropped = await access.revoke(game_id)
            log.info(
                "access revoked",
                extra=fields(user_id=user_id, game_id=game_id, cached_answers_dropped=dropped),
            )

        try:
            await backend.revocations.start(revoked)
            udp = await _start_udp(state)
            try:
                yield
            finally:
                if udp is not None:
                    udp.close()
                await backend.revocations.close()
        finally:
            await access.close()
            state.access = None
            await backend.limiter.close()
            await backend.store.close()


async def _start_udp(state: TrackerState) -> asyncio.DatagramTransport | None:
    if not state.config.tracker.udp_port:
        return None
    return await start_udp_tracker(state, state.config.tracker.host, state.config.tracker.udp_port)


async def _stale_peer_sweeper(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    # Stale peers are already skipped when peers are picked; the sweep frees their memory.
    period = min(max(state.config.tracker.announce_interval / 2, 1.0), 60.0)

    async def sweep() -> None:
        while True:
            await asyncio.sleep(period)
            try:
                dropped = await state.backend.store.purge_stale()
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
