"""A download is stopped only when rejected content is all its sources still send."""

from __future__ import annotations

import pytest

from peer.errors import ContentRejected
from peer.transfer import ContentWatch


def test_failures_then_a_stall_reject_the_content() -> None:
    watch = ContentWatch(now=0.0, stall_seconds=10)
    watch.observe(0.0, done_bytes=1000, failed_bytes=0)
    watch.observe(5.0, done_bytes=1000, failed_bytes=262144)
    with pytest.raises(ContentRejected, match="arbitrary software attack"):
        watch.observe(10.5, done_bytes=1000, failed_bytes=262144)


def test_a_hostile_peer_among_honest_ones_does_not_stop_the_download() -> None:
    watch = ContentWatch(now=0.0, stall_seconds=10)
    for second in range(60):
        watch.observe(float(second), done_bytes=1000 * (second + 1), failed_bytes=524288)


def test_a_slow_honest_swarm_without_failures_is_never_rejected() -> None:
    watch = ContentWatch(now=0.0, stall_seconds=10)
    watch.observe(0.0, done_bytes=0, failed_bytes=0)
    watch.observe(600.0, done_bytes=0, failed_bytes=0)
