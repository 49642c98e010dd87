"""Cloud-save versions in the database: slots, conflicts, quotas and retention.

A save is uploaded first (``pending``) and becomes a version only when confirmed. Versions of
one slot are numbered 1, 2, …; a client names the version its save is based on, and a newer
cloud version is a conflict the client resolves (keep-both, take-cloud, take-local) — so a
confirmed save is never silently replaced.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from library_api.activity_models import Savegame
from library_api.domain import timestamp
from library_api.errors import Conflict, NotFound, QuotaExceeded
from library_api.models import utc_now


class Resolution(enum.StrEnum):
    KEEP_BOTH = "keep-both"
    TAKE_CLOUD = "take-cloud"
    TAKE_LOCAL = "take-local"


@dataclass(frozen=True)
class LocalSave:
    """What the client holds: the save it wants to upload and what it was based on."""

    game_id: str
    slot: str
    size: int
    sha256: str
    based_on_version: int | None
    device_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "size": self.size,
            "sha256": self.sha256,
            "based_on_version": self.based_on_version,
            "device_id": self.device_id or None,
        }


def save_json(row: Savegame) -> dict[str, Any]:
    return {
        "save_id": row.save_id,
        "game_id": row.game_id,
        "slot": row.slot,
        "version": row.version,
        "based_on_version": row.based_on_version,
        "size": row.size,
        "sha256": row.sha256,
        "device_id": row.device_id or None,
        "state": row.state,
        "created_at": timestamp(row.created_at),
        "confirmed_at": timestamp(row.confirmed_at),
    }


def _mine(user_id: str, game_id: str) -> tuple[Any, ...]:
    return (Savegame.user_id == user_id, Savegame.game_id == game_id)


async def latest(session: AsyncSession, user_id: str, game_id: str, slot: str) -> Savegame | None:
    statement = (
        select(Savegame)
        .where(*_mine(user_id, game_id), Savegame.slot == slot, Savegame.state == "confirmed")
        .order_by(Savegame.version.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


def conflict(cloud: Savegame, local: LocalSave, save_id: str | None = None) -> Conflict:
    local_json = local.to_json() | ({"save_id": save_id} if save_id else {})
    return Conflict(
        "SAVEGAME_CONFLICT",
        f"the cloud holds version {cloud.version} of slot {cloud.slot!r}, newer than the "
        f"version {local.based_on_version} this save is based on",
        cloud=save_json(cloud),
        local=local_json,
        resolutions=[str(choice) for choice in Resolution],
    )


def is_conflict(cloud: Savegame | None, local: LocalSave) -> bool:
    if cloud is None or cloud.sha256 == local.sha256:
        return False
    assert cloud.version is not None
    return local.based_on_version is None or local.based_on_version < cloud.version


async def check_quota(
    session: AsyncSession, local: LocalSave, user_id: str, limits: tuple[int, int, int]
) -> None:
    """Refuse a save that would take the user past their bytes or files for the game."""
    quota_bytes, quota_files, kept = limits
    rows = (
        await session.execute(
            select(Savegame.slot, Savegame.version, Savegame.size).where(
                *_mine(user_id, local.game_id), Savegame.state == "confirmed"
            )
        )
    ).all()
    in_slot = sorted((row.version, row.size) for row in rows if row.slot == local.slot)
    # The oldest version of a full slot makes way for the new one at confirmation.
    freed = in_slot[0][1] if len(in_slot) >= kept else 0
    files = len(rows) + 1 - (1 if len(in_slot) >= kept else 0)
    used = sum(row.size for row in rows) - freed + local.size
    if used > quota_bytes or files > quota_files:
        raise QuotaExceeded(
            f"cloud saves of game {local.game_id} are limited to {quota_bytes} bytes in "
            f"{quota_files} files",
            bytes_used=used - local.size + freed,
            bytes_limit=quota_bytes,
            files_used=len(rows),
            files_limit=quota_files,
        )


async def drop_abandoned(session: AsyncSession, user_id: str, game_id: str, ttl: int) -> list[str]:
    """Forget uploads never confirmed long after their URL expired; their ids, to delete."""
    cutoff = utc_now() - timedelta(seconds=ttl * 2)
    stale = (
        await session.execute(
            select(Savegame.save_id).where(
                *_mine(user_id, game_id),
                Savegame.state == "pending",
                Savegame.created_at < cutoff,
            )
        )
    ).scalars()
    ids = list(stale)
    if ids:
        await session.execute(delete(Savegame).where(Savegame.save_id.in_(ids)))
    return ids


async def add_pending(session: AsyncSession, user_id: str, local: LocalSave) -> Savegame:
    row = Savegame(
        save_id=uuid.uuid4().hex,
        user_id=user_id,
        game_id=local.game_id,
        slot=local.slot,
        version=None,
        based_on_version=local.based_on_version,
        size=local.size,
        sha256=local.sha256,
        device_id=local.device_id,
        state="pending",
        created_at=utc_now(),
    )
    session.add(row)
    await session.flush()
    return row


async def find(session: AsyncSession, user_id: str, save_id: str) -> Savegame:
    statement = (
        select(Savegame)
        .where(Savegame.save_id == save_id, Savegame.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise NotFound("SAVEGAME_NOT_FOUND", f"no savegame {save_id}")
    return row


def local_of(row: Savegame) -> LocalSave:
    return LocalSave(row.game_id, row.slot, row.size, row.sha256, row.based_on_version,
                     row.device_id)  # fmt: skip


async def confirm(
    session: AsyncSession, row: Savegame, slot: str, based_on: int | None, version: int
) -> None:
    """Make the pending save ``version`` of ``slot``.

    ``version`` comes from the conflict check, never from a second read: if another device
    confirmed in between, the unique index refuses this one instead of stacking it on top.
    """
    await session.execute(
        update(Savegame)
        .where(Savegame.save_id == row.save_id)
        .values(
            slot=slot,
            based_on_version=based_on,
            version=version,
            state="confirmed",
            confirmed_at=utc_now(),
        )
    )
    await session.flush()


async def prune(
    session: AsyncSession, user_id: str, game_id: str, slot: str, kept: int
) -> list[str]:
    """Drop versions of the slot beyond the newest ``kept``; the ids whose bytes to delete."""
    rows = (
        await session.execute(
            select(Savegame.save_id)
            .where(*_mine(user_id, game_id), Savegame.slot == slot, Savegame.state == "confirmed")
            .order_by(Savegame.version.desc())
            .offset(kept)
        )
    ).scalars()
    ids = list(rows)
    if ids:
        await session.execute(delete(Savegame).where(Savegame.save_id.in_(ids)))
    return ids


async def listing(
    session: AsyncSession, user_id: str, game_id: str | None, slot: str | None
) -> list[Savegame]:
    statement = select(Savegame).where(Savegame.user_id == user_id, Savegame.state == "confirmed")
    if game_id is not None:
        statement = statement.where(Savegame.game_id == game_id)
    if slot is not None:
        statement = statement.where(Savegame.slot == slot)
    statement = statement.order_by(Savegame.game_id, Savegame.slot, Savegame.version.desc())
    return list(
        (await session.execute(statement.execution_options(populate_existing=True))).scalars()
    )


async def usage(session: AsyncSession, user_id: str, game_id: str) -> tuple[int, int]:
    """Bytes and files of confirmed saves the user keeps for the game."""
    row = (
        await session.execute(
            select(func.coalesce(func.sum(Savegame.size), 0), func.count()).where(
                *_mine(user_id, game_id), Savegame.state == "confirmed"
            )
        )
    ).one()
    return int(row[0]), int(row[1])


def copy_slot(slot: str) -> str:
    """A fresh slot for the local side of a keep-both resolution."""
    return f"{slot[:48]}-copy-{uuid.uuid4().hex[:8]}"
