"""Tables of what players do with their games: play, achievements, saves, wishlist, settings.

Built by migration 0002 (``models.py`` holds the ownership tables of 0001).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from library_api.models import GAME_ID, JSON_DOCUMENT, USER_ID, Base, utc_now


class ProcessedEvent(Base):
    """Events already applied, so a redelivered one changes nothing."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    processed_at: Mapped[datetime] = mapped_column(default=utc_now)


class PlaytimeSession(Base):
    __tablename__ = "playtime_sessions"
    __table_args__ = (
        Index(
            "uq_playtime_sessions_open_device",
            "user_id",
            "device_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_playtime_sessions_user_id_started_at", "user_id", "started_at"),
        Index("ix_playtime_sessions_game_id_ended_at", "game_id", "ended_at"),
    )

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"))
    game_id: Mapped[str] = mapped_column(ForeignKey("catalog.game_id"))
    device_id: Mapped[str] = mapped_column(String(128))
    # Whose copy is played: the player's own, or their family owner's.
    owner_id: Mapped[str] = mapped_column(USER_ID)
    started_at: Mapped[datetime] = mapped_column()
    last_heartbeat_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class FamilyMember(Base):
    """A member borrows the owner's games; a member belongs to one family at a time."""

    __tablename__ = "family_members"

    member_id: Mapped[str] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), index=True
    )
    linked_at: Mapped[datetime] = mapped_column(default=utc_now)


class Achievement(Base):
    __tablename__ = "achievements"
    __table_args__ = (CheckConstraint("target >= 1", name="target"),)

    game_id: Mapped[str] = mapped_column(ForeignKey("catalog.game_id"), primary_key=True)
    achievement_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    target: Mapped[int] = mapped_column(Integer, default=1)


class AchievementProgress(Base):
    __tablename__ = "achievement_progress"
    __table_args__ = (
        ForeignKeyConstraint(
            ["game_id", "achievement_id"],
            ["achievements.game_id", "achievements.achievement_id"],
            name="fk_achievement_progress_achievement",
            ondelete="CASCADE",
        ),
        Index("ix_achievement_progress_game_id_achievement_id", "game_id", "achievement_id"),
    )

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    game_id: Mapped[str] = mapped_column(GAME_ID, primary_key=True)
    achievement_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    unlocked_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class WishlistItem(Base):
    __tablename__ = "wishlist"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    game_id: Mapped[str] = mapped_column(ForeignKey("catalog.game_id"), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    added_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class GameSettingsVersion(Base):
    """Every saved version of a user's settings for a game; the highest is current."""

    __tablename__ = "game_settings"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    game_id: Mapped[str] = mapped_column(ForeignKey("catalog.game_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    device_id: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class Savegame(Base):
    """One uploaded save file; ``version`` is set when the upload is confirmed."""

    __tablename__ = "savegames"
    __table_args__ = (
        UniqueConstraint("user_id", "game_id", "slot", "version"),
        CheckConstraint("state IN ('pending', 'confirmed')", name="state"),
    )

    save_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"))
    game_id: Mapped[str] = mapped_column(ForeignKey("catalog.game_id"))
    slot: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    based_on_version: Mapped[int | None] = mapped_column(Integer, default=None)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(128), default="")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
