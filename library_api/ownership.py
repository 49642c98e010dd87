"""Granting and revoking games, from the internal endpoint or a purchase event alike."""

from __future__ import annotations

import logging

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from library_api.activity_models import ProcessedEvent, WishlistItem
from library_api.database import insert_ignoring_conflict
from library_api.domain import AcquisitionType, LibraryItem, OwnershipGrant
from library_api.errors import GameNotInLibrary, InvalidRequest
from library_api.events import (
    GAME_ADDED,
    GAME_REVOKED,
    PURCHASE_COMPLETED,
    WISHLIST_UPDATED,
    CloudEvent,
    EventBus,
    library_event,
)
from library_api.models import utc_now
from library_api.payloads import ownership_grant
from library_api.store import LibraryStore
from peerpipe.logs import fields

log = logging.getLogger("library_api.ownership")


async def claim_event(session: AsyncSession, event: CloudEvent) -> bool:
    """Record the event as applied; ``False`` if it already was (a redelivery)."""
    statement = insert_ignoring_conflict(
        session,
        ProcessedEvent.__table__,  # type: ignore[arg-type]
        {"event_id": f"{event.source}#{event.id}", "type": event.type, "processed_at": utc_now()},
        ["event_id"],
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def grant_game(
    store: LibraryStore, bus: EventBus, grant: OwnershipGrant, event: CloudEvent | None = None
) -> LibraryItem | None:
    """Give the game (idempotent); ``None`` when ``event`` was applied before."""
    async with store.transaction() as repos:
        if event is not None and not await claim_event(repos.session, event):
            return None
        await repos.users.ensure(grant.user_id)
        await repos.catalog.ensure(grant.game_id)
        before = await repos.ownership.find(grant.user_id, grant.game_id)
        item = await repos.ownership.grant(grant)
        # Bought or given: it no longer belongs on the wishlist.
        wished = await repos.session.execute(
            delete(WishlistItem).where(
                WishlistItem.user_id == grant.user_id, WishlistItem.game_id == grant.game_id
            )
        )
    if wished.rowcount:  # type: ignore[attr-defined]
        await bus.publish(
            library_event(WISHLIST_UPDATED, grant.user_id, game_id=grant.game_id, action="acquired")
        )
    if before is None or not before.owned:
        await bus.publish(
            library_event(
                GAME_ADDED,
                grant.user_id,
                game_id=grant.game_id,
                acquisition_type=str(item.acquisition_type),
            )
        )
    return item


async def revoke_game(store: LibraryStore, bus: EventBus, user_id: str, game_id: str) -> None:
    """Take the game back (refund); the tracker drops the user's access on the event."""
    async with store.transaction() as repos:
        before = await repos.ownership.find(user_id, game_id)
        existed = await repos.ownership.revoke(user_id, game_id)
    if not existed:
        raise GameNotInLibrary(game_id)
    if before is not None and before.owned:
        await bus.publish(library_event(GAME_REVOKED, user_id, game_id=game_id))


async def apply_event(store: LibraryStore, bus: EventBus, event: CloudEvent) -> bool:
    """Apply an event another service published; ``False`` if ignored or already applied."""
    if event.type != PURCHASE_COMPLETED:
        log.info("event ignored", extra=fields(type=event.type, id=event.id))
        return False
    data = dict(event.data)
    data.setdefault("acquisition_type", str(AcquisitionType.PURCHASE))
    known = {"user_id", "game_id", "acquisition_type"}
    grant = ownership_grant({key: value for key, value in data.items() if key in known})
    if grant.acquisition_type is AcquisitionType.FREE:
        raise InvalidRequest("INVALID_EVENT", "a purchase cannot be of a free game")
    item = await grant_game(store, bus, grant, event)
    log.info(
        "purchase applied" if item else "purchase already applied",
        extra=fields(event_id=event.id, user_id=grant.user_id, game_id=grant.game_id),
    )
    return item is not None
