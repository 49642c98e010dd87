"""The CDN node: trust metadata, release files (BEP 19 web seed), chunks, and a BT seed.

Routes follow "CDN layout" in docs/contracts.md. Release files and chunks come from the
origin store: the local origin folder, or an S3-compatible bucket (:mod:`seeder.content`).
The node seeds every release in its origin over BitTorrent as well (:mod:`seeder.seeding`;
from an S3 origin through a local mirror, :mod:`seeder.mirror`); /health reports its region
and listen port, so agents given several nodes can choose one and fail over.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from peerpipe.config import Config
from peerpipe.problems import Problem, problem_middleware
from peerpipe.service import metrics_handler
from seeder.content import LocalContent, NodeContent, S3Content
from seeder.file_serving import Body, serve_body, serve_file
from seeder.metadata_service import MetadataRefresher
from seeder.mirror import ReleaseMirror
from seeder.origin import GAME_ID, SHA256_HEX, LocalOrigin
from seeder.origin_settings import SeederOriginSettings
from seeder.s3_origin import S3Bucket
from seeder.safe_paths import resolve_inside
from seeder.seeding import ReleaseSeeder
from seeder.throttle import ServingThrottle
from signing import TrustRepository

log = logging.getLogger("peerpipe.seeder.cdn")

IMMUTABLE = "public, max-age=31536000, immutable"
LOAD_WINDOW_SECONDS = 5.0
UNLIMITED_CAPACITY_TRANSFERS = 64  # in-flight transfers counted as "fully loaded" without a limit


class CdnNode:
    """State shared by the handlers of one CDN node."""

    def __init__(self, config: Config, seed: bool, origin: SeederOriginSettings) -> None:
        self.config = config
        self.local = LocalOrigin(config.seeder.origin_dir)
        self.content: NodeContent
        mirror = None
        if origin.uses_s3:
            bucket = S3Bucket(origin)
            self.content = S3Content(bucket)
            # libtorrent seeds from disk: the node keeps a local copy of each release.
            mirror = ReleaseMirror(bucket, self.local)
        else:
            self.content = LocalContent(self.local)
        self.throttle = ServingThrottle(config.seeder.http_rate_limit)
        self.seeder = ReleaseSeeder(self.local, config.seeder, mirror) if seed else None
        self.metadata_refresher = MetadataRefresher(TrustRepository(config.trust_dir))
        self.registry = CollectorRegistry()
        self.bytes_sent = Counter(
            "peerpipe_cdn_bytes_sent", "Bytes served over HTTP", ["kind"], registry=self.registry
        )
        self.requests = Counter(
            "peerpipe_cdn_requests", "HTTP requests served", ["kind"], registry=self.registry
        )
        self.in_flight = Gauge(
            "peerpipe_cdn_transfers_in_flight", "HTTP transfers in progress", registry=self.registry
        )
        self.transfers = 0
        self._recent: deque[tuple[float, int]] = deque()

    def sent(self, kind: str) -> _Recorder:
        return _Recorder(self, kind)

    def record(self, kind: str, count: int) -> None:
        self.bytes_sent.labels(kind).inc(count)
        now = time.monotonic()
        self._recent.append((now, count))
        while self._recent and self._recent[0][0] < now - LOAD_WINDOW_SECONDS:
            self._recent.popleft()

    def load(self) -> float:
        """Share of serving capacity in use: bandwidth against the limit, or busy transfers."""
        if self.throttle.limited:
            now = time.monotonic()
            recent = sum(count for when, count in self._recent if when >= now - LOAD_WINDOW_SECONDS)
            return round(recent / LOAD_WINDOW_SECONDS / self.throttle.rate, 3)
        return round(self.transfers / UNLIMITED_CAPACITY_TRANSFERS, 3)


NODE_KEY = web.AppKey("cdn_node", CdnNode)


class _Recorder:
    def __init__(self, node: CdnNode, kind: str) -> None:
        self._node = node
        self._kind = kind

    def __call__(self, count: int) -> None:
        self._node.record(self._kind, count)


def create_app(
    config: Config, seed: bool = True, origin: SeederOriginSettings | None = None
) -> web.Application:
    """The CDN node's app; with ``seed`` it also seeds every release over BitTorrent.

    ``origin`` selects an S3-compatible origin; by default the node reads
    ``config.seeder.origin_dir``.
    """
    app = web.Application(middlewares=[problem_middleware])
    node = CdnNode(config, seed, origin or SeederOriginSettings())
    app[NODE_KEY] = node
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_handler(node.registry))
    app.router.add_get("/metadata/{name:.+}", metadata)
    app.router.add_get("/targets/{path:.+}", targets)
    app.router.add_get("/files/{game_id}/{release}/{path:.+}", release_file)
    app.router.add_get("/chunks/{sha256}", chunk)
    app.on_startup.append(_open_content)
    app.on_cleanup.append(_close_content)
    app.on_startup.append(_start_metadata_refresh)
    app.on_cleanup.append(_stop_metadata_refresh)
    if node.seeder is not None:
        app.on_startup.append(_start_seeding)
        app.on_cleanup.append(_stop_seeding)
    return app


async def _open_content(app: web.Application) -> None:
    await app[NODE_KEY].content.start()


async def _close_content(app: web.Application) -> None:
    await app[NODE_KEY].content.stop()


async def _start_metadata_refresh(app: web.Application) -> None:
    app[NODE_KEY].metadata_refresher.start()


async def _stop_metadata_refresh(app: web.Application) -> None:
    await app[NODE_KEY].metadata_refresher.stop()


async def _start_seeding(app: web.Application) -> None:
    seeder = app[NODE_KEY].seeder
    assert seeder is not None
    await seeder.start()


async def _stop_seeding(app: web.Application) -> None:
    seeder = app[NODE_KEY].seeder
    assert seeder is not None
    await seeder.stop()


async def health(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    seeder = node.seeder
    return web.json_response(
        {
            "status": "ok",
            "region": node.config.seeder.region,
            "bt_port": seeder.listen_port if seeder else None,
            "connections": node.transfers + (seeder.peer_count if seeder else 0),
            "load": node.load(),
        }
    )


async def metadata(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    path = resolve_inside(node.config.trust_dir / "metadata", request.match_info["name"])
    # Timestamp and snapshot change in place; clients must revalidate every time.
    return await _serve(request, "metadata", path, headers={"Cache-Control": "no-cache"})


async def targets(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    path = resolve_inside(node.config.trust_dir / "targets", request.match_info["path"])
    return await _serve(request, "targets", path, headers={"Cache-Control": "no-cache"})


async def release_file(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    game_id, release = request.match_info["game_id"], request.match_info["release"]
    if not GAME_ID.match(game_id) or not release.isdigit() or not release.isascii():
        raise Problem(400, "Bad Request", "not a release file path", code="BAD_PATH")
    opened = node.content.release_file(game_id, int(release), request.match_info["path"])
    async with opened as body:
        return await _serve(request, "files", body)


async def chunk(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    sha256 = request.match_info["sha256"]
    if not SHA256_HEX.match(sha256):
        raise Problem(400, "Bad Request", "a chunk id is 64 lowercase hex digits", code="BAD_PATH")
    async with node.content.chunk(sha256) as body:
        return await _serve(request, "chunks", body, headers={"Cache-Control": IMMUTABLE})


async def _serve(
    request: web.Request,
    kind: str,
    what: Path | Body,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    node.requests.labels(kind).inc()
    node.transfers += 1
    node.in_flight.inc()
    try:
        if isinstance(what, Path):
            return await serve_file(request, what, node.throttle, node.sent(kind), None, headers)
        return await serve_body(request, what, node.throttle, node.sent(kind), headers)
    finally:
        node.transfers -= 1
        node.in_flight.dec()
