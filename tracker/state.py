"""What the tracker's request handlers share: configuration, storage, access checker, metrics."""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from peerpipe.config import Config
from peerpipe.tokens import TokenVerifier
from tracker.access import AccessChecker
from tracker.backend import Backend
from tracker.bans import BanList
from tracker.options import TrackerOptions

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class AnnounceTally(Collector):
    """Announces answered, by result and transport, and the time each took to answer.

    Exposed as ``tracker_announces_total`` and the ``tracker_announce_seconds`` histogram.
    Counted in plain integers and turned into metrics only when scraped: prometheus_client's
    own counters take a lock on every update, a tenth of the cost of a whole announce here.
    """

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._bounds = buckets
        self.counts: dict[tuple[str, str], int] = {}
        self._buckets = [0] * (len(buckets) + 1)
        self._seconds = 0.0

    def record(self, result: str, transport: str, seconds: float | None = None) -> None:
        """One announce answered with ``result``; ``seconds`` adds it to the latency histogram."""
        key = (result, transport)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        if seconds is not None:
            # Buckets are upper bounds, inclusive (Prometheus's ``le``).
            self._buckets[bisect.bisect_left(self._bounds, seconds)] += 1
            self._seconds += seconds

    def collect(self) -> Iterator[Metric]:
        announces = CounterMetricFamily(
            "tracker_announces",
            "Announces answered, by result and transport",
            labels=["result", "transport"],
        )
        for (result, transport), count in sorted(self.counts.items()):
            announces.add_metric([result, transport], count)
        yield announces
        cumulative = list(itertools.accumulate(self._buckets))
        latency = HistogramMetricFamily("tracker_announce_seconds", "Time to answer an announce")
        latency.add_metric(
            [],
            [(repr(bound), float(n)) for bound, n in zip(self._bounds, cumulative, strict=False)]
            + [("+Inf", float(cumulative[-1]))],
            sum_value=self._seconds,
        )
        yield latency


@dataclass(frozen=True)
class TrackerMetrics:
    registry: CollectorRegistry
    announces: AnnounceTally
    scrapes: Counter
    swarms: Gauge
    peers: Gauge

    @classmethod
    def create(cls) -> TrackerMetrics:
        registry = CollectorRegistry()
        announces = AnnounceTally()
        registry.register(announces)
        return cls(
            registry=registry,
            announces=announces,
            scrapes=Counter(
                "tracker_scrapes",
                "Scrapes answered, by result and transport",
                ["result", "transport"],
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
