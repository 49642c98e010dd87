"""Suite-wide settings: hypothesis without wall-clock health checks or deadlines.

The suite shares two cores with real servers and libtorrent sessions, so per-example timing
says more about the machine's load than about the code; budgets live in bench/ instead.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "peerpipe",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    max_examples=100,
)
settings.load_profile("peerpipe")
