"""The library listing in SQL: filters and keyset pagination over one user's entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from library_api.domain import InstallationStatus, LibraryItem
from library_api.listing import NEVER, LibraryQuery, SortKey, item_cursor
from library_api.models import CatalogEntry, EntryCategory, LibraryEntry, UtcDateTime
from library_api.repositories import library_item

# Category names cannot hold control characters (see payloads.CATEGORY_PATTERN).
SEPARATOR = "\x1f"


def _sort_column(key: SortKey) -> Any:
    if key is SortKey.NAME:
        return CatalogEntry.title
    if key is SortKey.PLAYTIME:
        return LibraryEntry.playtime_seconds
    if key is SortKey.ADDED:
        return LibraryEntry.acquired_at
    # Never-played games sort as if last played at the epoch: last in "desc", first in "asc".
    return func.coalesce(LibraryEntry.last_played_at, literal(NEVER, UtcDateTime()))


def _filters(user_id: str, query: LibraryQuery) -> list[Any]:
    conditions: list[Any] = [LibraryEntry.user_id == user_id, LibraryEntry.revoked_at.is_(None)]
    installed = LibraryEntry.installation_status == str(InstallationStatus.INSTALLED)
    if query.installed is not None:
        conditions.append(installed if query.installed else ~installed)
    if query.hidden is not None:
        conditions.append(LibraryEntry.hidden.is_(query.hidden))
    if query.favorite is not None:
        conditions.append(LibraryEntry.favorite.is_(query.favorite))
    if query.acquisition_type is not None:
        conditions.append(LibraryEntry.acquisition_type == str(query.acquisition_type))
    if query.platform is not None:
        platform = f",{query.platform.lower()},"
        conditions.append(CatalogEntry.platforms.contains(platform, autoescape=True))
    if query.category is not None:
        conditions.append(
            exists().where(
                EntryCategory.user_id == LibraryEntry.user_id,
                EntryCategory.game_id == LibraryEntry.game_id,
                EntryCategory.category == query.category,
            )
        )
    return conditions


def _after(query: LibraryQuery, column: Any) -> Any:
    assert query.after is not None
    value: Any = query.after.value
    if query.sort in (SortKey.ADDED, SortKey.LAST_PLAYED):
        value = literal(datetime.fromisoformat(str(value)), UtcDateTime())
    game = query.after.game_id
    if query.descending:
        return or_(column < value, and_(column == value, LibraryEntry.game_id < game))
    return or_(column > value, and_(column == value, LibraryEntry.game_id > game))


async def library_page(
    session: AsyncSession, user_id: str, query: LibraryQuery
) -> tuple[list[LibraryItem], str | None]:
    """One page of the user's games and the cursor of the next page (``None`` at the end)."""
    column = _sort_column(query.sort)
    conditions = _filters(user_id, query)
    if query.after is not None:
        conditions.append(_after(query, column))
    ordering = (
        (column.desc(), LibraryEntry.game_id.desc())
        if query.descending
        else (column.asc(), LibraryEntry.game_id.asc())
    )
    # The categories ride along in the same query (one round trip per page).
    shelves = (
        select(func.aggregate_strings(EntryCategory.category, SEPARATOR))
        .where(
            EntryCategory.user_id == LibraryEntry.user_id,
            EntryCategory.game_id == LibraryEntry.game_id,
        )
        .scalar_subquery()
    )
    statement = (
        # Plain columns, not ORM objects: a page is read, never changed, so skip the mapping.
        select(
            *LibraryEntry.__table__.columns,
            CatalogEntry.title,
            CatalogEntry.publisher,
            CatalogEntry.details,
            shelves.label("shelves"),
        )
        .join(CatalogEntry, CatalogEntry.game_id == LibraryEntry.game_id)
        .where(*conditions)
        .order_by(*ordering)
        .limit(query.limit + 1)
    )
    rows: list[Any] = list((await session.execute(statement)).all())
    page = rows[: query.limit]
    items = [
        library_item(row, tuple(sorted(row.shelves.split(SEPARATOR))) if row.shelves else ())
        for row in page
    ]
    more = len(rows) > query.limit
    return items, item_cursor(query, items[-1]) if more and items else None
