"""What the tracker's request handlers share: configuration, store, access checker, metrics."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from peerpipe.config import Config
from peerpipe.tokens import TokenVerifier
from tracker.access import AccessChecker
from tracker.swarm_store import SwarmStore


@dataclass(frozen=True)
class TrackerMetrics:
    registry: CollectorRegistry
    announces: Counter
    scrapes: Counter
    announce_seconds: Histogram
    swarms: Gauge
    peers: Gauge

    @classmethod
    def create(cls) -> TrackerMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            announces=Counter(
                "tracker_announces",
                "Announces answered, by result",
                ["result"],
                registry=registry,
            ),
            scrapes=Counter(
                "tracker_scrapes", "Scrapes answered, by result", ["result"], registry=registry
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
    store: SwarmStore
    metrics: TrackerMetrics
    verifier: TokenVerifier
    # Created on start-up: it needs the running event loop's HTTP client session.
    access: AccessChecker | None = None

    @property
    def access_checker(self) -> AccessChecker:
        if self.access is None:
            raise RuntimeError("the tracker app has not been started")
        return self.access


STATE = web.AppKey("tracker_state", TrackerState)
