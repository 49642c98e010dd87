"""Library events as CloudEvents 1.0 (JSON), and the in-process bus that carries them.

``redis_events.RedisStreamEventBus`` carries the same events over Redis Streams when Redis is
configured; handlers only see :class:`EventBus`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from library_api.domain import timestamp
from library_api.errors import InvalidRequest

SOURCE = "/peerpipe/library"
SPEC_VERSION = "1.0"
SUBSCRIBER_BACKLOG = 256

GAME_ADDED = "library.game.added"
GAME_REVOKED = "library.game.revoked"
PLAYTIME_UPDATED = "library.playtime.updated"
ACHIEVEMENT_UNLOCKED = "library.achievement.unlocked"
WISHLIST_UPDATED = "library.wishlist.updated"
SAVEGAME_SYNCHRONIZED = "library.savegame.synchronized"
PURCHASE_COMPLETED = "payment.purchase.completed"

log = logging.getLogger("library_api.events")


@dataclass(frozen=True)
class CloudEvent:
    type: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source: str = SOURCE
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None

    @property
    def user_id(self) -> str | None:
        """The player the event is about (whose WebSocket may see it)."""
        value = self.data.get("user_id")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": timestamp(self.time),
            "datacontenttype": "application/json",
            "data": self.data,
        }
        if self.subject is not None:
            body["subject"] = self.subject
        return body

    @classmethod
    def from_json(cls, body: Any) -> CloudEvent:
        """A structured-mode CloudEvent, or InvalidRequest naming what is wrong with it."""
        if not isinstance(body, dict):
            raise InvalidRequest("INVALID_EVENT", "a CloudEvent is a JSON object")
        if body.get("specversion") != SPEC_VERSION:
            raise InvalidRequest("INVALID_EVENT", "specversion must be '1.0'")
        for name in ("id", "source", "type"):
            value = body.get(name)
            if not isinstance(value, str) or not value or len(value) > 256:
                raise InvalidRequest("INVALID_EVENT", f"{name} must be a non-empty string")
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise InvalidRequest("INVALID_EVENT", "data must be a JSON object")
        moment = datetime.now(UTC)
        if isinstance(body.get("time"), str):
            try:
                moment = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
            except ValueError:
                raise InvalidRequest("INVALID_EVENT", "time must be RFC 3339") from None
            if moment.tzinfo is None:
                raise InvalidRequest("INVALID_EVENT", "time must carry a zone")
        subject = body.get("subject")
        return cls(
            type=body["type"],
            data=data,
            id=body["id"],
            source=body["source"],
            time=moment,
            subject=subject if isinstance(subject, str) else None,
        )


def library_event(kind: str, user_id: str, **data: Any) -> CloudEvent:
    return CloudEvent(type=kind, data={"user_id": user_id, **data}, subject=f"users/{user_id}")


class Subscription:
    """Events from the moment of subscribing; a subscriber too slow to keep up loses old ones."""

    def __init__(self, owner: Fanout) -> None:
        self._owner = owner
        self.queue: asyncio.Queue[CloudEvent] = asyncio.Queue(SUBSCRIBER_BACKLOG)

    async def next(self) -> CloudEvent:
        return await self.queue.get()

    def close(self) -> None:
        self._owner.remove(self)


class Fanout:
    """Local subscribers (WebSockets) of one API instance."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def deliver(self, event: CloudEvent) -> None:
        for subscription in self._subscriptions:
            if subscription.queue.full():
                subscription.queue.get_nowait()
            subscription.queue.put_nowait(event)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscriptions.add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)


class EventBus(Protocol):
    """Where library events go; chosen at start-up (in-process or Redis Streams)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: CloudEvent) -> None: ...

    def subscribe(self) -> Subscription:
        """Every event published from now on (by any API instance sharing the bus)."""
        ...


class InProcessEventBus:
    """Events stay inside this process: subscribers see them as they are published."""

    def __init__(self) -> None:
        self._fanout = Fanout()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, event: CloudEvent) -> None:
        log.debug("event", extra={"fields": {"type": event.type, "id": event.id}})
        self._fanout.deliver(event)

    def subscribe(self) -> Subscription:
        return self._fanout.subscribe()
