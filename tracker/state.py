"""What the tracker's request handlers share: configuration, storage, access checker, metrics."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from peerpipe.config import Config
from peerpipe.tokens import TokenVerifier
from tracker.access import AccessChecker
from tracker.backend import Backend
from tracker.bans import BanList
from tracker.options import TrackerOptions


@dataclass(frozen=True)
class TrackerMetrics:
    registry: CollectorRegistry
    announces: Counter
    scrapes: Counter
    announce_seconds: Histogram
    swarms: Gauge
    peers: Gauge
    _children: dict[tuple[str, str], Counter] = field(default_factory=dict)

    def announce_result(self, result: str, transport: str) -> Counter:
        """The announce counter for one label pair (looked up once, then reused)."""
        child = self._children.get((result, transport))
        if child is None:
            child = self._children[(result, transport)] = self.announces.labels(result, transport)
        return child

    @classmethod
    def create(cls) -> TrackerMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            announces=Counter(
                "tracker_announces",
                "Announces answered, by result and transport",
                ["result", "transport"],
                registry=registry,
            ),
            scrapes=Counter(
                "tracker_scrapes",
                "Scrapes answered, by result and transport",
                ["result", "transport"],
                registry=registry,
            ),
            announce_seconds=Histogram(
                "tracker_announce_seconds",
                "Time to answer an announce",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
                registry=registry,
            ),
            swarms=Gauge("tracker_swarms", "Registered swarms", registry=registry),
            peers=Gauge("tracker_peers", "Peers currently in swarms", registry=registry),
        )


@dataclass
class TrackerState:
    config: Config
    options: TrackerOptions
    backend: Backend
    metrics: TrackerMetrics
    verifier: TokenVerifier
    # Created on start-up: it needs the running event loop's HTTP client session.
    access: AccessChecker | None = None
    ban_list: BanList = field(default_factory=BanList)
    bans_fetched_at: float = float("-inf")
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


STATE = web.AppKey("tracker_state", TrackerState)
