"""Following a Redis Stream from a given entry: every reader sees every entry (no group)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import redis.asyncio as redis
from redis.exceptions import RedisError

from peerpipe.logs import fields

OnEntry = Callable[[str, dict[bytes, bytes]], Awaitable[None]]


async def follow_stream(
    client: redis.Redis,
    stream: str,
    last: str,
    on_entry: OnEntry,
    log: logging.Logger,
    block_ms: int = 1000,
) -> NoReturn:
    """Hand every entry after ``last`` to ``on_entry`` (id, fields), forever; a failed read
    is logged and retried a second later, so a Redis restart only delays delivery."""
    while True:
        try:
            answer: Any = await client.xread({stream: last}, count=100, block=block_ms)
        except (RedisError, OSError) as exc:
            log.warning("event stream read failed", extra=fields(error=str(exc)))
            await asyncio.sleep(1.0)
            continue
        for _stream, entries in answer or []:
            for entry_id, raw in entries:
                last = entry_id.decode()
                await on_entry(last, raw)
