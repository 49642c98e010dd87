"""Tunable limits of the tracker that ``peerpipe.config`` does not carry.

Defaults are the platform's policy; tests and benches pass their own values to
``create_app(config, options)``.
"""

from __future__ import annotations

from dataclasses import dataclass

# The library API publishes its CloudEvents here (library_api.options.LibraryOptions).
LIBRARY_EVENTS_STREAM = "peerpipe:library:events"


@dataclass(frozen=True)
class TrackerOptions:
    # Every Redis key the tracker writes starts with this (tests use a unique one each).
    redis_prefix: str = "peerpipe:tracker:"
    events_stream: str = LIBRARY_EVENTS_STREAM
    # Announces and scrapes allowed per window: a client announces each torrent every
    # interval, so even a player seeding hundreds of games stays far below these.
    passkey_requests_per_window: int = 600
    ip_requests_per_window: int = 3000
    rate_window_seconds: int = 60
    # Memory bounds: peers held in-process, and per swarm in Redis.
    max_peers: int = 2_000_000
    max_peers_per_swarm: int = 200_000
    # HTTP request limits enforced by aiohttp's parser before any handler runs; queries
    # between announce.MAX_QUERY_LENGTH and this get a bencoded failure reason instead.
    max_request_line: int = 8190
    max_header_size: int = 4096
    max_headers: int = 32
    # Operators' bans are re-read from the store at most this often.
    ban_refresh_seconds: float = 1.0
    # Several tracker processes share the HTTP and UDP ports (SO_REUSEPORT, Redis store).
    reuse_port: bool = False
