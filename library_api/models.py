"""SQLAlchemy tables of the library (the Alembic migrations build exactly these).

Every per-user, per-game table added later (playtime, achievements, saves, wishlist…) keys on
``users.user_id`` and ``catalog.game_id`` the same way ``library_entries`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite keeps no zone, so we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("library timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
USER_ID = String(128)
GAME_ID = String(128)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class User(Base):
    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Passkey(Base):
    """Tracker passkeys; a user has at most one that is not revoked."""

    __tablename__ = "passkeys"
    __table_args__ = (
        Index(
            "uq_passkeys_active_user",
            "user_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"))
    passkey: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class CatalogEntry(Base):
    __tablename__ = "catalog"

    game_id: Mapped[str] = mapped_column(GAME_ID, primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    publisher: Mapped[str] = mapped_column(String(256), default="")
    # "metadata" is taken by SQLAlchemy's declarative base, hence the attribute name.
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSON_DOCUMENT, default=dict)
    # ",windows,linux," so one LIKE finds a platform on every engine.
    platforms: Mapped[str] = mapped_column(String(256), default="", server_default="")
    # The publisher's game-server Ed25519 public key (raw, base64) for signed unlocks.
    server_key: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class LibraryEntry(Base):
    """One user's ownership of one game; a refund sets ``revoked_at`` and keeps the row."""

    __tablename__ = "library_entries"
    __table_args__ = (
        CheckConstraint(
            "acquisition_type IN ('purchase', 'gift', 'subscription', 'free')",
            name="acquisition_type",
        ),
        CheckConstraint(
            "installation_status IN ('none', 'installing', 'installed', 'failed', 'uninstalled')",
            name="installation_status",
        ),
        Index("ix_library_entries_game_id", "game_id"),
    )

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    game_id: Mapped[str] = mapped_column(ForeignKey("catalog.game_id"), primary_key=True)
    acquisition_type: Mapped[str] = mapped_column(String(16))
    acquired_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    installation_status: Mapped[str] = mapped_column(String(16), default="none")
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    favorite: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Kept here (not summed on each read) so the library sorts by them cheaply.
    playtime_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_played_at: Mapped[datetime | None] = mapped_column(default=None)


class UserCategory(Base):
    """A shelf a user made for their games."""

    __tablename__ = "user_categories"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class EntryCategory(Base):
    __tablename__ = "entry_categories"
    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "game_id"],
            ["library_entries.user_id", "library_entries.game_id"],
            name="fk_entry_categories_entry",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["user_id", "category"],
            ["user_categories.user_id", "user_categories.name"],
            name="fk_entry_categories_category",
            ondelete="CASCADE",
        ),
    )

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    game_id: Mapped[str] = mapped_column(GAME_ID, primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
