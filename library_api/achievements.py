"""Achievements: definitions a publisher sets, progress a player makes (only ever upwards).

An unlock counts only for a game the player may play, and only while a playtime session is
open or when the publisher's game server signed it (Ed25519 over the canonical JSON of
``{"achievement_id", "game_id", "progress", "user_id"}``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from library_api.activity_models import Achievement, AchievementProgress
from library_api.database import insert_ignoring_conflict
from library_api.domain import timestamp
from library_api.errors import Conflict, InvalidRequest, NotFound
from library_api.models import CatalogEntry, LibraryEntry, utc_now


@dataclass(frozen=True)
class AchievementDefinition:
    achievement_id: str
    name: str
    description: str
    hidden: bool
    target: int


def signed_message(user_id: str, game_id: str, achievement_id: str, progress: int | None) -> bytes:
    body = {
        "achievement_id": achievement_id,
        "game_id": game_id,
        "progress": progress,
        "user_id": user_id,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "INVALID_FIELD", "server_key must be a raw Ed25519 public key in base64"
        ) from None


def signature_valid(key_text: str | None, signature: str, message: bytes) -> bool:
    if not key_text:
        return False
    try:
        public_key(key_text).verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError, InvalidRequest):
        return False
    return True


async def define(
    session: AsyncSession, game_id: str, definitions: list[AchievementDefinition]
) -> None:
    """Add or update definitions; ones left out stay (players' progress is never dropped)."""
    for definition in definitions:
        values = {
            "game_id": game_id,
            "achievement_id": definition.achievement_id,
            "name": definition.name,
            "description": definition.description,
            "hidden": definition.hidden,
            "target": definition.target,
        }
        await session.execute(
            insert_ignoring_conflict(
                session,
                Achievement.__table__,  # type: ignore[arg-type]
                values,
                ["game_id", "achievement_id"],
            )
        )
        await session.execute(
            update(Achievement)
            .where(
                Achievement.game_id == game_id,
                Achievement.achievement_id == definition.achievement_id,
            )
            .values(values)
        )


async def set_server_key(session: AsyncSession, game_id: str, key: str | None) -> None:
    await session.execute(
        update(CatalogEntry).where(CatalogEntry.game_id == game_id).values(server_key=key)
    )


async def server_key(session: AsyncSession, game_id: str) -> str | None:
    statement = select(CatalogEntry.server_key).where(CatalogEntry.game_id == game_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def listing(session: AsyncSession, user_id: str, game_id: str) -> list[dict[str, Any]]:
    """The game's schema with the player's progress and the share of owners who unlocked."""
    definitions = (
        await session.execute(
            select(Achievement)
            .where(Achievement.game_id == game_id)
            .order_by(Achievement.achievement_id)
        )
    ).scalars()
    owners = (
        await session.execute(
            select(func.count()).where(
                LibraryEntry.game_id == game_id, LibraryEntry.revoked_at.is_(None)
            )
        )
    ).scalar_one()
    unlocks = dict(
        (
            await session.execute(
                select(AchievementProgress.achievement_id, func.count())
                .where(
                    AchievementProgress.game_id == game_id,
                    AchievementProgress.unlocked_at.is_not(None),
                )
                .group_by(AchievementProgress.achievement_id)
            )
        ).all()
    )
    mine = {
        row.achievement_id: row
        for row in (
            await session.execute(
                select(AchievementProgress)
                .where(
                    AchievementProgress.user_id == user_id,
                    AchievementProgress.game_id == game_id,
                )
                .execution_options(populate_existing=True)
            )
        ).scalars()
    }
    return [
        _achievement_json(definition, mine.get(definition.achievement_id), unlocks, owners)
        for definition in definitions
    ]


def _achievement_json(
    definition: Achievement,
    progress: AchievementProgress | None,
    unlocks: dict[str, int],
    owners: int,
) -> dict[str, Any]:
    unlocked_at: datetime | None = progress.unlocked_at if progress else None
    secret = definition.hidden and unlocked_at is None
    share = 100.0 * unlocks.get(definition.achievement_id, 0) / owners if owners else 0.0
    return {
        "achievement_id": definition.achievement_id,
        "name": "Hidden achievement" if secret else definition.name,
        "description": "" if secret else definition.description,
        "hidden": definition.hidden,
        "target": definition.target,
        "progress": progress.progress if progress else 0,
        "unlocked": unlocked_at is not None,
        "unlocked_at": timestamp(unlocked_at),
        "global_unlock_percentage": round(min(share, 100.0), 1),
    }


async def advance(
    session: AsyncSession, user_id: str, game_id: str, achievement_id: str, progress: int | None
) -> bool:
    """Raise the player's progress (never past the target); ``True`` if this unlocked it."""
    target = (
        await session.execute(
            select(Achievement.target).where(
                Achievement.game_id == game_id, Achievement.achievement_id == achievement_id
            )
        )
    ).scalar_one_or_none()
    if target is None:
        raise NotFound(
            "ACHIEVEMENT_NOT_FOUND", f"game {game_id} has no achievement {achievement_id}"
        )
    reached = target if progress is None else min(progress, target)
    now = utc_now()
    await session.execute(
        insert_ignoring_conflict(
            session,
            AchievementProgress.__table__,  # type: ignore[arg-type]
            {"user_id": user_id, "game_id": game_id, "achievement_id": achievement_id,
             "progress": 0, "unlocked_at": None, "updated_at": now},
            ["user_id", "game_id", "achievement_id"],
        )
    )  # fmt: skip
    mine = (
        AchievementProgress.user_id == user_id,
        AchievementProgress.game_id == game_id,
        AchievementProgress.achievement_id == achievement_id,
    )
    # Conditional on "not yet unlocked": of two racing unlocks exactly one matches.
    result = await session.execute(
        update(AchievementProgress)
        .where(*mine, AchievementProgress.unlocked_at.is_(None))
        .values(
            progress=func.max(AchievementProgress.progress, reached)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(AchievementProgress.progress, reached),
            unlocked_at=now if reached >= target else None,
            updated_at=now,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Conflict(
            "ACHIEVEMENT_ALREADY_UNLOCKED", f"achievement {achievement_id} is already unlocked"
        )
    return reached >= target
