"""Shared test helpers for the seeder's tests (a module name unique across tests/)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

GAME = "space-miner"
PASSPHRASE = b"correct horse"

BuildMaker = Callable[[dict[str, bytes]], Path]


def random_bytes(size: int, seed: int) -> bytes:
    """Deterministic incompressible bytes (so content-defined chunking has something to cut)."""
    return random.Random(seed).randbytes(size)


async def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)
