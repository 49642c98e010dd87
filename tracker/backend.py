"""The storage engines the configuration asks for, chosen once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis

from peerpipe.config import Config
from tracker.access_cache import NoSharedCache, RedisAccessCache, SharedAccessCache
from tracker.memory_store import MemorySwarmStore
from tracker.options import TrackerOptions
from tracker.rate_limit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tracker.redis_store import RedisSwarmStore
from tracker.revocations import BLOCK_MS, NoRevocationFeed, RedisRevocationFeed, RevocationFeed
from tracker.swarm_store import SwarmStore

REDIS_TIMEOUT = max(10.0, BLOCK_MS / 1000 * 5)


@dataclass
class Backend:
    store: SwarmStore
    limiter: RateLimiter
    shared_access: SharedAccessCache
    revocations: RevocationFeed


def create_backend(config: Config, options: TrackerOptions) -> Backend:
    """In-process engines by default; Redis ones when ``config.tracker.redis_url`` is set."""
    # A peer that missed two announces in a row is gone.
    peer_lifetime = 2 * config.tracker.announce_interval
    url = config.tracker.redis_url
    if not url:
        return Backend(
            store=MemorySwarmStore(peer_lifetime=peer_lifetime, max_peers=options.max_peers),
            limiter=MemoryRateLimiter(
                options.passkey_requests_per_window,
                options.ip_requests_per_window,
                options.rate_window_seconds,
            ),
            shared_access=NoSharedCache(),
            revocations=NoRevocationFeed(),
        )
    # A Redis that stops answering must fail announces, not hang them; the revocation feed
    # blocks on XREAD for at most revocations.BLOCK_MS, well inside this.
    client = redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=5)
    prefix = options.redis_prefix
    return Backend(
        store=RedisSwarmStore(
            client, prefix, peer_lifetime, max_peers_per_swarm=options.max_peers_per_swarm
        ),
        limiter=RedisRateLimiter(
            client,
            prefix,
            options.passkey_requests_per_window,
            options.ip_requests_per_window,
            options.rate_window_seconds,
        ),
        shared_access=RedisAccessCache(client, prefix),
        revocations=RedisRevocationFeed(client, options.events_stream),
    )
