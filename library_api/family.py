"""Family sharing: an owner links members, who may download and play the owner's games.

Subscription games are not shared (the subscription is the owner's, not the household's).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from library_api.activity_models import FamilyMember
from library_api.domain import AcquisitionType, LibraryItem
from library_api.errors import Conflict, GameNotInLibrary
from library_api.models import CatalogEntry, LibraryEntry, utc_now
from library_api.repositories import OwnershipRepository, library_item


async def owner_of(session: AsyncSession, member_id: str) -> str | None:
    """The owner whose family ``member_id`` belongs to, if any."""
    statement = select(FamilyMember.owner_id).where(FamilyMember.member_id == member_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def members_of(session: AsyncSession, owner_id: str) -> list[tuple[str, datetime]]:
    statement = (
        select(FamilyMember.member_id, FamilyMember.linked_at)
        .where(FamilyMember.owner_id == owner_id)
        .order_by(FamilyMember.linked_at, FamilyMember.member_id)
    )
    return [(row.member_id, row.linked_at) for row in (await session.execute(statement)).all()]


async def link(session: AsyncSession, owner_id: str, member_id: str, limit: int) -> None:
    """Make ``member_id`` a member of the owner's family, or say why not (409)."""
    if member_id == owner_id:
        raise Conflict("FAMILY_CONFLICT", "an owner cannot be a member of their own family")
    if await owner_of(session, owner_id) is not None:
        raise Conflict("FAMILY_CONFLICT", "a family member cannot share games as an owner")
    if await members_of(session, member_id):
        raise Conflict("FAMILY_CONFLICT", f"user {member_id} owns a family of their own")
    current = await owner_of(session, member_id)
    if current == owner_id:
        return
    if current is not None:
        raise Conflict("FAMILY_CONFLICT", f"user {member_id} already belongs to a family")
    count = (
        await session.execute(select(func.count()).where(FamilyMember.owner_id == owner_id))
    ).scalar_one()
    if count >= limit:
        raise Conflict("FAMILY_FULL", f"a family has at most {limit} members")
    session.add(FamilyMember(member_id=member_id, owner_id=owner_id, linked_at=utc_now()))
    await session.flush()


async def unlink(session: AsyncSession, owner_id: str, member_id: str) -> bool:
    result = await session.execute(
        delete(FamilyMember).where(
            FamilyMember.owner_id == owner_id, FamilyMember.member_id == member_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _shareable(item: LibraryItem | None) -> bool:
    return (
        item is not None
        and item.owned
        and item.acquisition_type is not AcquisitionType.SUBSCRIPTION
    )


async def shared_copy(session: AsyncSession, user_id: str, game_id: str) -> LibraryItem | None:
    """The family owner's copy of the game that ``user_id`` may borrow, if there is one."""
    owner = await owner_of(session, user_id)
    if owner is None:
        return None
    item = await OwnershipRepository(session).find(owner, game_id)
    return item if _shareable(item) else None


async def shared_games(session: AsyncSession, user_id: str) -> list[LibraryItem]:
    owner = await owner_of(session, user_id)
    if owner is None:
        return []
    statement = (
        select(LibraryEntry, CatalogEntry.title, CatalogEntry.publisher, CatalogEntry.details)
        .join(CatalogEntry, CatalogEntry.game_id == LibraryEntry.game_id)
        .where(
            LibraryEntry.user_id == owner,
            LibraryEntry.revoked_at.is_(None),
            LibraryEntry.acquisition_type != str(AcquisitionType.SUBSCRIPTION),
        )
        .order_by(CatalogEntry.title, LibraryEntry.game_id)
    )
    return [library_item(row) for row in (await session.execute(statement)).all()]


async def copy_to_play(session: AsyncSession, user_id: str, game_id: str) -> str:
    """Whose copy ``user_id`` plays: their own, else their family owner's; 404 if neither."""
    own = await OwnershipRepository(session).find(user_id, game_id)
    if own is not None and own.owned:
        return user_id
    borrowed = await shared_copy(session, user_id, game_id)
    if borrowed is None:
        raise GameNotInLibrary(game_id)
    return borrowed.user_id
