"""Storage of users, passkeys, the catalog and ownership: one repository per concern.

Each repository works inside the caller's ``AsyncSession`` (one transaction per request);
handlers never see SQL.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from library_api.categories import categories_of, file_under
from library_api.database import insert_ignoring_conflict
from library_api.domain import (
    AcquisitionType,
    CatalogGame,
    EntryChanges,
    InstallationStatus,
    LibraryItem,
    OwnershipGrant,
    PasskeyHolder,
)
from library_api.models import CatalogEntry, LibraryEntry, Passkey, User, utc_now


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def ensure(self, user_id: str) -> None:
        """Record the user if this is the first time the platform mentions them."""
        statement = insert_ignoring_conflict(
            self._session,
            User.__table__,  # type: ignore[arg-type]
            {"user_id": user_id, "created_at": utc_now()},
            ["user_id"],
        )
        await self._session.execute(statement)


class PasskeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def current(self, user_id: str) -> str | None:
        statement = select(Passkey.passkey).where(
            Passkey.user_id == user_id, Passkey.revoked_at.is_(None)
        )
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def issue(self, user_id: str) -> str:
        """The user's passkey, created if they have none (concurrent first calls agree)."""
        existing = await self.current(user_id)
        if existing is not None:
            return existing
        statement = insert_ignoring_conflict(
            self._session,
            Passkey.__table__,  # type: ignore[arg-type]
            {"user_id": user_id, "passkey": secrets.token_hex(16), "created_at": utc_now()},
            ["user_id"],
            where=text("revoked_at IS NULL"),
        )
        await self._session.execute(statement)
        created = await self.current(user_id)
        assert created is not None, "an active passkey exists after insert-or-keep"
        return created

    async def rotate(self, user_id: str) -> str:
        """Revoke the user's passkey and issue a new one."""
        await self._session.execute(
            update(Passkey)
            .where(Passkey.user_id == user_id, Passkey.revoked_at.is_(None))
            .values(revoked_at=utc_now())
        )
        return await self.issue(user_id)

    async def holder(self, passkey: str) -> PasskeyHolder | None:
        statement = select(Passkey.user_id, Passkey.revoked_at).where(Passkey.passkey == passkey)
        row = (await self._session.execute(statement)).one_or_none()
        if row is None:
            return None
        return PasskeyHolder(user_id=row.user_id, revoked=row.revoked_at is not None)


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def ensure(self, game_id: str) -> None:
        """A placeholder entry (titled by its id) so ownership can precede publishing."""
        statement = insert_ignoring_conflict(
            self._session,
            CatalogEntry.__table__,  # type: ignore[arg-type]
            {"game_id": game_id, "title": game_id, "publisher": "", "metadata": {},
             "created_at": utc_now(), "updated_at": utc_now()},
            ["game_id"],
        )  # fmt: skip
        await self._session.execute(statement)

    async def put(self, game: CatalogGame) -> None:
        await self.ensure(game.game_id)
        await self._session.execute(
            update(CatalogEntry)
            .where(CatalogEntry.game_id == game.game_id)
            .values(
                title=game.title,
                publisher=game.publisher,
                details=game.details,
                platforms=_platforms(game.details),
                updated_at=utc_now(),
            )
        )


def _platforms(details: dict[str, Any]) -> str:
    """``metadata.platforms`` as ``",windows,linux,"`` (see ``CatalogEntry.platforms``)."""
    listed = details.get("platforms")
    if not isinstance(listed, list):
        return ""
    names = [name.lower() for name in listed if isinstance(name, str) and "," not in name]
    stored = f",{','.join(names)}," if names else ""
    while len(stored) > 256 and names:  # the column's width; a catalog entry lists few
        names.pop()
        stored = f",{','.join(names)}," if names else ""
    return stored


def library_item(row: Any, categories: tuple[str, ...] = ()) -> LibraryItem:
    """A row of the entry (ORM object or plain columns) with the catalog's title, publisher
    and details."""
    entry: LibraryEntry = row.LibraryEntry if "LibraryEntry" in row._fields else row
    return LibraryItem(
        user_id=entry.user_id,
        game_id=entry.game_id,
        title=row.title,
        publisher=row.publisher,
        acquisition_type=AcquisitionType(entry.acquisition_type),
        acquired_at=entry.acquired_at,
        revoked_at=entry.revoked_at,
        installation_status=InstallationStatus(entry.installation_status),
        hidden=entry.hidden,
        favorite=entry.favorite,
        notes=entry.notes,
        categories=categories,
        playtime_seconds=entry.playtime_seconds,
        last_played_at=entry.last_played_at,
        details=row.details,
    )


class OwnershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _items(self) -> Any:
        # populate_existing: bulk UPDATEs earlier in the transaction must show in what we read.
        return (
            select(LibraryEntry, CatalogEntry.title, CatalogEntry.publisher, CatalogEntry.details)
            .join(CatalogEntry, CatalogEntry.game_id == LibraryEntry.game_id)
            .execution_options(populate_existing=True)
        )

    async def find(self, user_id: str, game_id: str) -> LibraryItem | None:
        """The entry whether owned or refunded, or ``None`` if the user never had the game."""
        statement = self._items().where(
            LibraryEntry.user_id == user_id, LibraryEntry.game_id == game_id
        )
        row = (await self._session.execute(statement)).one_or_none()
        if row is None:
            return None
        found = await categories_of(self._session, user_id, [game_id])
        return library_item(row, found.get(game_id, ()))

    async def grant(self, grant: OwnershipGrant) -> LibraryItem:
        """Give the game; a refunded game is granted anew, an owned one stays as it is."""
        now = utc_now()
        values = {
            "user_id": grant.user_id,
            "game_id": grant.game_id,
            "acquisition_type": str(grant.acquisition_type),
            "acquired_at": now,
            "installation_status": str(InstallationStatus.NONE),
            "hidden": False,
            "favorite": False,
            "updated_at": now,
        }
        table = LibraryEntry.__table__
        await self._session.execute(
            insert_ignoring_conflict(self._session, table, values, ["user_id", "game_id"])  # type: ignore[arg-type]
        )
        await self._session.execute(
            update(LibraryEntry)
            .where(
                LibraryEntry.user_id == grant.user_id,
                LibraryEntry.game_id == grant.game_id,
                LibraryEntry.revoked_at.is_not(None),
            )
            .values(
                revoked_at=None,
                acquisition_type=str(grant.acquisition_type),
                acquired_at=now,
                updated_at=now,
            )
        )
        item = await self.find(grant.user_id, grant.game_id)
        assert item is not None, "an entry exists after insert-or-keep"
        return item

    async def revoke(self, user_id: str, game_id: str) -> bool:
        """Refund or remove the game; ``False`` if the user never had it."""
        await self._session.execute(
            update(LibraryEntry)
            .where(
                LibraryEntry.user_id == user_id,
                LibraryEntry.game_id == game_id,
                LibraryEntry.revoked_at.is_(None),
            )
            .values(revoked_at=utc_now(), updated_at=utc_now())
        )
        return await self.find(user_id, game_id) is not None

    async def change(self, user_id: str, game_id: str, changes: EntryChanges) -> LibraryItem | None:
        """Apply the owner's edit to an owned game; ``None`` if they do not own it."""
        values: dict[str, Any] = {"updated_at": utc_now()}
        if changes.installation_status is not None:
            values["installation_status"] = str(changes.installation_status)
        if changes.hidden is not None:
            values["hidden"] = changes.hidden
        if changes.favorite is not None:
            values["favorite"] = changes.favorite
        if changes.notes is not None:
            values["notes"] = changes.notes
        await self._session.execute(
            update(LibraryEntry)
            .where(
                LibraryEntry.user_id == user_id,
                LibraryEntry.game_id == game_id,
                LibraryEntry.revoked_at.is_(None),
            )
            .values(values)
        )
        item = await self.find(user_id, game_id)
        if item is None or not item.owned:
            return None
        if changes.categories is not None:
            await file_under(self._session, user_id, game_id, changes.categories)
            item = await self.find(user_id, game_id)
        return item
