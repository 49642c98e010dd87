"""CDN nodes as the agent sees them: trust metadata, web seeds and BitTorrent endpoints."""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlsplit

import aiohttp

from peerpipe.logs import fields

log = logging.getLogger("peerpipe.peer.cdn")


def web_seed_url(cdn_url: str, game_id: str) -> str:
    """The BEP 19 web seed of a game on a CDN node (the torrent name is the release)."""
    return f"{cdn_url.rstrip('/')}/files/{game_id}/"


async def bt_endpoint(http: aiohttp.ClientSession, cdn_url: str) -> tuple[str, int] | None:
    """Where the node seeds over BitTorrent, from its ``/health``; None when it does not."""
    host = urlsplit(cdn_url).hostname
    try:
        async with http.get(f"{cdn_url.rstrip('/')}/health") as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("CDN node unreachable", extra=fields(cdn=cdn_url, error=str(exc)))
        return None
    port = body.get("bt_port") if isinstance(body, dict) else None
    if not host or not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return None
    # libtorrent connects to addresses and reports peers by address, never by name
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        log.warning("CDN node name unresolved", extra=fields(cdn=cdn_url, error=str(exc)))
        return None
    return str(found[0][4][0]), port


async def bt_endpoints(
    http: aiohttp.ClientSession, cdn_urls: tuple[str, ...]
) -> list[tuple[str, int]]:
    found = await asyncio.gather(*(bt_endpoint(http, url) for url in cdn_urls))
    return [endpoint for endpoint in found if endpoint is not None]
