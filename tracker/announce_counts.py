"""Announces answered, counted where they are answered (compiled with the announce path).

Plain integers, turned into Prometheus metrics only when scraped (``state.AnnounceTally``):
prometheus_client's own counters take a lock on every update, a tenth of the cost of a whole
announce here.
"""

from __future__ import annotations

import bisect

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class AnnounceCounts:
    """Announces by result and transport, and a histogram of the time each took to answer."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = buckets
        self.counts: dict[tuple[str, str], int] = {}
        # One more than the bounds: the last counts what exceeded every bound.
        self.buckets = [0] * (len(buckets) + 1)
        self.seconds = 0.0

    def record(self, result: str, transport: str, seconds: float = -1.0) -> None:
        """One announce answered with ``result``; ``seconds`` (if given) adds it to the
        latency histogram."""
        key = (result, transport)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        if seconds >= 0.0:
            # Buckets are upper bounds, inclusive (Prometheus's ``le``).
            self.buckets[bisect.bisect_left(self.bounds, seconds)] += 1
            self.seconds += seconds
