"""Concurrent calls answered together: who waits for whom, and what a failure reaches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from library_api.batching import Batcher


class Doubler:
    """A batch function that records its batches and can be held at a gate."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, calls: Sequence[int]) -> list[int]:
        self.batches.append(list(calls))
        self.started.set()
        await self.gate.wait()
        if any(call < 0 for call in calls):
            raise ValueError("negative")
        return [2 * call for call in calls]


async def test_a_lone_call_is_its_own_batch() -> None:
    run = Doubler()
    batcher = Batcher(run, runners=2, largest=10)
    assert await asyncio.wait_for(batcher.submit(21), 5) == 42
    assert run.batches == [[21]]


async def test_calls_arriving_while_the_runners_are_busy_share_the_next_batch() -> None:
    run = Doubler()
    run.gate.clear()
    batcher = Batcher(run, runners=1, largest=4)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.wait_for(run.started.wait(), 5)
    rest = [asyncio.ensure_future(batcher.submit(call)) for call in range(1, 7)]
    run.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    assert answers == [2 * call for call in range(7)]
    assert run.batches == [[0], [1, 2, 3, 4], [5, 6]]


async def test_a_failure_reaches_every_call_of_its_batch_and_no_other() -> None:
    run = Doubler()
    run.gate.clear()
    batcher = Batcher(run, runners=1, largest=10)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.wait_for(run.started.wait(), 5)
    doomed = [asyncio.ensure_future(batcher.submit(call)) for call in (2, -3, 4)]
    run.gate.set()
    assert await asyncio.wait_for(first, 5) == 2
    for call in doomed:
        with pytest.raises(ValueError, match="negative"):
            await asyncio.wait_for(call, 5)
    assert await asyncio.wait_for(batcher.submit(5), 5) == 10


async def test_no_call_is_left_waiting_when_a_runner_finishes_as_it_arrives() -> None:
    batcher = Batcher(Doubler(), runners=1, largest=3)

    async def caller(count: int) -> None:
        # Each answer wakes the caller, which asks again before the runner has wound up.
        for call in range(count):
            assert await batcher.submit(call) == 2 * call

    await asyncio.wait_for(caller(200), 5)
    for round_number in range(100):
        calls = range(round_number % 5 + 1)
        answers = await asyncio.wait_for(asyncio.gather(*map(batcher.submit, calls)), 5)
        assert answers == [2 * call for call in calls]


async def test_closing_cancels_the_calls_still_queued() -> None:
    run = Doubler()
    run.gate.clear()
    batcher = Batcher(run, runners=1, largest=10)
    waiting = [asyncio.ensure_future(batcher.submit(call)) for call in range(3)]
    await asyncio.wait_for(run.started.wait(), 5)
    await batcher.close()
    for call in waiting:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(call, 5)
    with pytest.raises(RuntimeError):
        await batcher.submit(9)
