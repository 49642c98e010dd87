"""What the tracker's request handlers share: configuration, storage, access checker, metrics."""

from __future__ import annotations

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
from tracker.announce_counts import AnnounceCounts
from tracker.backend import Backend
from tracker.bans import BanList
from tracker.options import TrackerOptions


class AnnounceTally(Collector):
    """``tracker_announces_total`` and the ``tracker_announce_seconds`` histogram, read from
    the :class:`AnnounceCounts` the announce path keeps when Prometheus scrapes."""

    def __init__(self, counts: AnnounceCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        announces = CounterMetricFamily(
            "tracker_announces",
            "Announces answered, by result and transport",
            labels=["result", "transport"],
        )
        counts = self._counts
        for (result, transport), count in sorted(counts.counts.items()):
            announces.add_metric([result, transport], count)
        yield announces
        cumulative = list(itertools.accumulate(counts.buckets))
        latency = HistogramMetricFamily("tracker_announce_seconds", "Time to answer an announce")
        latency.add_metric(
            [],
            [(repr(bound), float(n)) for bound, n in zip(counts.bounds, cumulative, strict=False)]
            + [("+Inf", float(cumulative[-1]))],
            sum_value=counts.seconds,
        )
        yield latency


@dataclass(frozen=True)
class TrackerMetrics:
    registry: CollectorRegistry
    announces: AnnounceCounts
    scrapes: Counter
    swarms: Gauge
    peers: Gauge

    @classmethod
    def create(cls) -> TrackerMetrics:
        registry = CollectorRegistry()
        announces = AnnounceCounts()
        registry.register(AnnounceTally(announces))
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
