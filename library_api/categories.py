"""A user's categories (shelves) and which of their games sit on which."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from library_api.database import insert_ignoring_conflict
from library_api.models import EntryCategory, UserCategory, utc_now


async def categories_of(
    session: AsyncSession, user_id: str, game_ids: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Each game's categories, sorted by name (games without any are absent)."""
    games = list(game_ids)
    if not games:
        return {}
    statement = (
        select(EntryCategory.game_id, EntryCategory.category)
        .where(EntryCategory.user_id == user_id, EntryCategory.game_id.in_(games))
        .order_by(EntryCategory.category)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for game, category in (await session.execute(statement)).all():
        found[game].append(category)
    return {game: tuple(names) for game, names in found.items()}


async def create(session: AsyncSession, user_id: str, name: str) -> None:
    statement = insert_ignoring_conflict(
        session,
        UserCategory.__table__,  # type: ignore[arg-type]
        {"user_id": user_id, "name": name, "created_at": utc_now()},
        ["user_id", "name"],
    )
    await session.execute(statement)


async def listing(session: AsyncSession, user_id: str) -> list[tuple[str, int]]:
    """The user's categories with how many games each holds."""
    names = (
        await session.execute(
            select(UserCategory.name)
            .where(UserCategory.user_id == user_id)
            .order_by(UserCategory.name)
        )
    ).scalars()
    counts: dict[str, int] = defaultdict(int)
    rows = await session.execute(
        select(EntryCategory.category).where(EntryCategory.user_id == user_id)
    )
    for category in rows.scalars():
        counts[category] += 1
    return [(name, counts[name]) for name in names]


async def remove(session: AsyncSession, user_id: str, name: str) -> bool:
    """Delete the category (its games stay in the library); ``False`` if there was none."""
    await session.execute(
        delete(EntryCategory).where(
            EntryCategory.user_id == user_id, EntryCategory.category == name
        )
    )
    result = await session.execute(
        delete(UserCategory).where(UserCategory.user_id == user_id, UserCategory.name == name)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def file_under(
    session: AsyncSession, user_id: str, game_id: str, names: tuple[str, ...]
) -> None:
    """Put the game on exactly these categories, creating any the user did not have."""
    await session.execute(
        delete(EntryCategory).where(
            EntryCategory.user_id == user_id, EntryCategory.game_id == game_id
        )
    )
    for name in sorted(set(names)):
        await create(session, user_id, name)
        session.add(EntryCategory(user_id=user_id, game_id=game_id, category=name))
    await session.flush()
