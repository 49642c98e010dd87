"""CDN nodes as the agent sees them: health probes, ranking, web seeds and BitTorrent endpoints.

Nodes are ranked by what was measured: a node that failed recently goes last, the player's
preferred region goes first, then the expected time to fetch a MiB (probe latency plus a MiB
at the throughput last seen from that node) decides.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from peerpipe.logs import fields

log = logging.getLogger("peerpipe.peer.cdn")

_MIB = 1024 * 1024
_FAILURE_MEMORY_SECONDS = 60.0
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=3)


def web_seed_url(cdn_url: str, game_id: str) -> str:
    """The BEP 19 web seed of a game on a CDN node (the torrent name is the release)."""
    return f"{cdn_url.rstrip('/')}/files/{game_id}/"


@dataclass(frozen=True)
class CdnNode:
    url: str
    region: str = ""
    healthy: bool = False
    latency: float | None = None  # seconds, of the last /health probe
    throughput: float | None = None  # bytes/s last measured from its web seed
    failed_at: float | None = None  # monotonic time of the last failure
    bt_endpoint: tuple[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "region": self.region,
            "healthy": self.healthy,
            "latency_ms": round(self.latency * 1000, 1) if self.latency is not None else None,
            "throughput": round(self.throughput) if self.throughput is not None else None,
        }


class CdnNodes:
    """The configured nodes with what the agent measured of them (ranking is sans-IO)."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self._nodes = {url: CdnNode(url) for url in urls}
        # A download needs a web seed and no node is healthy: probe again soon, not at the
        # next periodic probe (a node unreachable for a moment would idle the download).
        self.probe_wanted = False

    def all(self) -> list[CdnNode]:
        return list(self._nodes.values())

    def observe(self, node: CdnNode) -> None:
        previous = self._nodes.get(node.url)
        if previous is not None:
            node = replace(
                node,
                throughput=node.throughput or previous.throughput,
                failed_at=node.failed_at or previous.failed_at,
            )
        self._nodes[node.url] = node

    def observe_throughput(self, url: str, rate: float) -> None:
        if url in self._nodes and rate > 0:
            self._nodes[url] = replace(self._nodes[url], throughput=rate)

    def observe_failure(self, url: str, now: float) -> None:
        if url in self._nodes:
            self._nodes[url] = replace(self._nodes[url], failed_at=now, healthy=False)

    def ranked(self, preferred_region: str, now: float) -> list[CdnNode]:
        known = [node.throughput for node in self._nodes.values() if node.throughput]
        optimistic = max(known) if known else float(100 * _MIB)

        def cost(node: CdnNode) -> tuple[bool, bool, bool, float]:
            recently_failed = (
                node.failed_at is not None and now - node.failed_at < _FAILURE_MEMORY_SECONDS
            )
            latency = node.latency if node.latency is not None else 1.0
            seconds_per_mib = latency + _MIB / (node.throughput or optimistic)
            other_region = bool(preferred_region) and node.region != preferred_region
            return (not node.healthy, recently_failed, other_region, seconds_per_mib)

        return sorted(self._nodes.values(), key=cost)

    async def probe(self, http: aiohttp.ClientSession) -> None:
        """Measure every node's ``/health`` latency (in parallel) and note its BT port."""
        self.probe_wanted = False
        found = await asyncio.gather(*(probe_node(http, url) for url in self._nodes))
        for node in found:
            self.observe(node)


async def probe_node(http: aiohttp.ClientSession, url: str) -> CdnNode:
    began = time.monotonic()
    try:
        async with http.get(f"{url.rstrip('/')}/health", timeout=_PROBE_TIMEOUT) as response:
            body = await response.json(content_type=None)
            healthy = response.status == 200 and isinstance(body, dict)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("CDN node unreachable", extra=fields(cdn=url, error=str(exc)))
        return CdnNode(url, healthy=False)
    latency = time.monotonic() - began
    if not healthy:
        return CdnNode(url, healthy=False, latency=latency)
    region = body.get("region") if isinstance(body.get("region"), str) else ""
    endpoint = await _bt_endpoint(url, body.get("bt_port"))
    return CdnNode(url, str(region), True, latency, bt_endpoint=endpoint)


async def _bt_endpoint(cdn_url: str, port: Any) -> tuple[str, int] | None:
    host = urlsplit(cdn_url).hostname
    if not host or not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return None
    # libtorrent connects to addresses and reports peers by address, never by name
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        log.warning("CDN node name unresolved", extra=fields(cdn=cdn_url, error=str(exc)))
        return None
    return str(found[0][4][0]), port
