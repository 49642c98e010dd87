"""Library events over Redis Streams (CloudEvents JSON in the ``event`` field of each entry).

Publishing appends to the library stream; every API instance tails it to feed its own
WebSockets. Purchases arrive on the payments stream, read through a consumer group so each
is handled by one instance, and acknowledged once applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from library_api.errors import InvalidRequest, StoreUnavailable
from library_api.events import CloudEvent, Fanout, Subscription
from peerpipe.logs import fields
from peerpipe.streams import follow_stream

STREAM_MAXLEN = 100_000
BLOCK_MS = 500
EventHandler = Callable[[CloudEvent], Awaitable[object]]

log = logging.getLogger("library_api.redis_events")


def _decode(raw: dict[bytes, bytes]) -> CloudEvent:
    try:
        body = json.loads(raw[b"event"])
    except (KeyError, ValueError):
        raise InvalidRequest("INVALID_EVENT", "stream entry has no JSON 'event' field") from None
    return CloudEvent.from_json(body)


class RedisStreamEventBus:
    def __init__(self, url: str, stream: str) -> None:
        self._url = url
        self._stream = stream
        self._fanout = Fanout()
        self._redis: redis.Redis | None = None
        self._tail: asyncio.Task[None] | None = None

    async def start(self) -> None:
        client = redis.from_url(self._url)
        try:
            await client.ping()
            newest: Any = await client.xrevrange(self._stream, count=1)
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreUnavailable(f"cannot reach Redis for events: {exc}") from None
        self._redis = client
        last = newest[0][0].decode() if newest else "0-0"
        self._tail = asyncio.create_task(self._follow(last))

    async def close(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, event: CloudEvent) -> None:
        assert self._redis is not None, "the bus is started with the app"
        await self._redis.xadd(
            self._stream,
            {"event": json.dumps(event.to_json())},
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )

    def subscribe(self) -> Subscription:
        return self._fanout.subscribe()

    async def _follow(self, last: str) -> None:
        assert self._redis is not None
        await follow_stream(self._redis, self._stream, last, self._deliver, log, BLOCK_MS)

    async def _deliver(self, entry_id: str, raw: dict[bytes, bytes]) -> None:
        try:
            self._fanout.deliver(_decode(raw))
        except InvalidRequest as exc:
            log.warning("bad event on stream", extra=fields(id=entry_id, error=str(exc)))


class StreamConsumer:
    """Reads one stream through a consumer group and acknowledges what ``handle`` applied."""

    def __init__(self, url: str, stream: str, group: str, handle: EventHandler) -> None:
        self._url = url
        self._stream = stream
        self._group = group
        self._name = f"{socket.gethostname()}-{id(self):x}"
        self._handle = handle
        self._redis: redis.Redis | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        client = redis.from_url(self._url)
        try:
            await client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                await client.aclose()
                raise StoreUnavailable(f"cannot create consumer group: {exc}") from None
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreUnavailable(f"cannot reach Redis for events: {exc}") from None
        self._redis = client
        self._task = asyncio.create_task(self._consume())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()

    async def _consume(self) -> None:
        assert self._redis is not None
        # First what this consumer took but never acknowledged (a crash), then new entries.
        position = "0"
        while True:
            try:
                answer: Any = await self._redis.xreadgroup(
                    self._group, self._name, {self._stream: position}, count=50, block=BLOCK_MS
                )
            except (RedisError, OSError) as exc:
                log.warning("consumer read failed", extra=fields(error=str(exc)))
                await asyncio.sleep(1.0)
                continue
            entries = [entry for _stream, batch in answer or [] for entry in batch]
            backlog_done = position == "0" and len(entries) < 50
            for entry_id, raw in entries:
                if raw and await self._apply(entry_id.decode(), raw):
                    await self._redis.xack(self._stream, self._group, entry_id)
                elif position == "0":
                    backlog_done = True  # a failing entry waits for a later start
            if backlog_done:
                position = ">"

    async def _apply(self, entry_id: str, raw: dict[bytes, bytes]) -> bool:
        try:
            await self._handle(_decode(raw))
        except InvalidRequest as exc:
            # A malformed event will never apply: acknowledge it so it does not loop forever.
            log.warning("event rejected", extra=fields(id=entry_id, error=str(exc)))
        except Exception:
            log.exception("event failed; left pending", extra=fields(id=entry_id))
            return False
        return True
