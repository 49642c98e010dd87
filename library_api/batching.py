"""Concurrent calls answered together: one database round trip for many requests.

A call joins the queue and waits for its own answer. A batch starts as soon as one of a few
runners is free and takes everything queued by then, so a lone call waits for nobody (its
batch is itself) and under load each round trip serves many calls. Nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Call = TypeVar("Call")
Answer = TypeVar("Answer")


class Batcher(Generic[Call, Answer]):
    """Runs ``run(calls)`` (answers in the calls' order) for batches of concurrent calls.

    An exception from ``run`` is raised in every call of that batch.
    """

    def __init__(
        self,
        run: Callable[[Sequence[Call]], Awaitable[Sequence[Answer]]],
        runners: int,
        largest: int,
    ) -> None:
        self._run = run
        self._runners = runners
        self._largest = largest
        self._queue: list[tuple[Call, asyncio.Future[Answer]]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, call: Call) -> Answer:
        if self._closed:
            raise RuntimeError("the batcher is closed")
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.append((call, answer))
        if len(self._running) < self._runners:
            self._running.add(asyncio.create_task(self._drain()))
        return await answer

    async def _drain(self) -> None:
        try:
            await self._drain_queue()
        finally:
            # At once, not in a done callback: a call queued before that callback ran would
            # find every runner taken and wait forever.
            self._running.discard(asyncio.current_task())

    async def _drain_queue(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._largest], self._queue[self._largest :]
            try:
                answers = await self._run([call for call, _ in batch])
            except Exception as exc:
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            except BaseException:
                for _, answer in batch:
                    answer.cancel()
                raise
            for (_, answer), result in zip(batch, answers, strict=True):
                if not answer.done():
                    answer.set_result(result)

    async def close(self) -> None:
        """Stop the runners; calls still queued are cancelled."""
        self._closed = True
        for runner in list(self._running):
            runner.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        for _, answer in self._queue:
            answer.cancel()
        self._queue = []
