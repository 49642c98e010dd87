"""Shared test helpers for the seeder's tests (a module name unique across tests/)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seeder.origin_settings import SeederOriginSettings
from seeder.s3_origin import s3_client

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


async def wait_for_files(folder: Path, files: dict[str, bytes], within: float = 10) -> None:
    """Wait until ``folder`` holds ``files``: libtorrent reports a torrent complete as soon as
    every piece passed its hash check, possibly before its disk thread wrote the last ones."""

    def written() -> bool:
        try:
            return all((folder / path).read_bytes() == data for path, data in files.items())
        except OSError:
            return False

    await wait_for(written, within, f"the downloaded files in {folder}")


def _client(settings: SeederOriginSettings) -> Any:
    return s3_client(settings)


async def create_bucket(settings: SeederOriginSettings) -> None:
    async with _client(settings) as client:
        await client.create_bucket(Bucket=settings.bucket)


async def put_objects(settings: SeederOriginSettings, objects: dict[str, bytes]) -> None:
    """Store ``objects`` by their full keys (the settings' prefix is not added)."""
    async with _client(settings) as client:
        for key, data in objects.items():
            await client.put_object(Bucket=settings.bucket, Key=key, Body=data)


async def object_keys(settings: SeederOriginSettings) -> list[str]:
    async with _client(settings) as client:
        answer = await client.list_objects_v2(Bucket=settings.bucket)
        return sorted(item["Key"] for item in answer.get("Contents", []))
