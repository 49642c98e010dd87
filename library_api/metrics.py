"""Prometheus metrics of one library app (its own registry, so apps never collide)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class LibraryMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "library_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "library_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.registry,
        )
        self.access_checks = Counter(
            "library_access_checks",
            "Internal access checks, by outcome",
            ["allowed"],
            registry=self.registry,
        )
        self.ownership_changes = Counter(
            "library_ownership_changes",
            "Ownership grants and revocations",
            ["change"],
            registry=self.registry,
        )
        # The labelled series of each route, looked up once (a hot path counts every request).
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def count_request(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            series = (
                self.requests.labels(method=method, route=route, status=status),
                self.latency.labels(route=route),
            )
            self._series[method, route, status] = series
        series[0].inc()
        series[1].observe(seconds)
