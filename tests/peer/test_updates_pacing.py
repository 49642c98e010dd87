"""The bucket that holds an update's CDN fetches to the player's download limit."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer.updates import RatePacer
from peer.updates.pacing import BURST_SECONDS


class Clock:
    """Time that passes only when the pacer sleeps (or the test says so)."""

    def __init__(self, passes: bool = True) -> None:
        self.now = 100.0
        self.slept = 0.0
        self.passes = passes
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.slept += seconds
        if self.passes:
            self.now += seconds


@given(
    st.integers(min_value=1_000, max_value=10_000_000),
    st.lists(st.integers(min_value=1, max_value=256 * 1024), min_size=1, max_size=60),
)
def test_reads_through_the_pacer_take_as_long_as_the_limit_says(
    limit: int, reads: list[int]
) -> None:
    clock = Clock()
    pacer = RatePacer(lambda: limit, clock, clock.sleep)

    async def read_all() -> None:
        for size in reads:
            await pacer.take(size)

    asyncio.run(read_all())
    # the bucket starts empty: every byte waits for its share of time, and no longer
    assert clock.slept == pytest.approx(sum(reads) / limit)


def test_an_idle_while_banks_at_most_a_quarter_second() -> None:
    clock = Clock()
    pacer = RatePacer(lambda: 1_000, clock, clock.sleep)
    asyncio.run(pacer.take(1_000))
    clock.now += 60  # a minute without fetches
    asyncio.run(pacer.take(1_000))
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(1.0 - BURST_SECONDS)]


def test_a_new_limit_applies_to_the_next_read_and_none_means_no_wait() -> None:
    clock = Clock()
    limit = {"now": 1_000}
    pacer = RatePacer(lambda: limit["now"], clock, clock.sleep)
    asyncio.run(pacer.take(2_000))
    assert clock.slept == pytest.approx(2.0)
    limit["now"] = 4_000
    asyncio.run(pacer.take(2_000))
    assert clock.slept == pytest.approx(2.5)
    limit["now"] = 0
    asyncio.run(pacer.take(10_000_000))
    assert clock.slept == pytest.approx(2.5)


def test_concurrent_fetches_share_the_limit() -> None:
    clock = Clock(passes=False)  # both reads spend their bytes at the same moment
    pacer = RatePacer(lambda: 1_000, clock, clock.sleep)

    async def both() -> None:
        await asyncio.gather(pacer.take(1_000), pacer.take(1_000))

    asyncio.run(both())
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(2.0)]  # the second waits out both
