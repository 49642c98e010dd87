"""Entry notes, categories and playtime totals; playtime sessions, family sharing,
achievements, wishlist, settings history, cloud saves and processed events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _user_fk(table: str, column: str = "user_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.user_id"], name=f"fk_{table}_{column}_users", ondelete="CASCADE"
    )


def _game_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["game_id"], ["catalog.game_id"], name=f"fk_{table}_game_id_catalog"
    )


def upgrade() -> None:
    _extend_library()
    _create_playtime_and_family()
    _create_achievements()
    _create_wishlist_and_settings()
    _create_savegames()
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )


def _extend_library() -> None:
    op.add_column(
        "catalog", sa.Column("platforms", sa.String(256), server_default="", nullable=False)
    )
    op.add_column("catalog", sa.Column("server_key", sa.String(64), nullable=True))
    op.add_column(
        "library_entries", sa.Column("notes", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "library_entries",
        sa.Column("playtime_seconds", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("library_entries", sa.Column("last_played_at", TIMESTAMP, nullable=True))
    op.create_table(
        "user_categories",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _user_fk("user_categories"),
        sa.PrimaryKeyConstraint("user_id", "name", name="pk_user_categories"),
    )
    op.create_table(
        "entry_categories",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id", "game_id"],
            ["library_entries.user_id", "library_entries.game_id"],
            name="fk_entry_categories_entry",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "category"],
            ["user_categories.user_id", "user_categories.name"],
            name="fk_entry_categories_category",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "game_id", "category", name="pk_entry_categories"),
    )


def _create_playtime_and_family() -> None:
    op.create_table(
        "playtime_sessions",
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("last_heartbeat_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        _user_fk("playtime_sessions"),
        _game_fk("playtime_sessions"),
        sa.PrimaryKeyConstraint("session_id", name="pk_playtime_sessions"),
    )
    op.create_index(
        "uq_playtime_sessions_open_device",
        "playtime_sessions",
        ["user_id", "device_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index(
        "ix_playtime_sessions_user_id_started_at", "playtime_sessions", ["user_id", "started_at"]
    )
    op.create_index(
        "ix_playtime_sessions_game_id_ended_at", "playtime_sessions", ["game_id", "ended_at"]
    )
    op.create_table(
        "family_members",
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("linked_at", TIMESTAMP, nullable=False),
        _user_fk("family_members", "member_id"),
        _user_fk("family_members", "owner_id"),
        sa.PrimaryKeyConstraint("member_id", name="pk_family_members"),
    )
    op.create_index("ix_family_members_owner_id", "family_members", ["owner_id"])


def _create_achievements() -> None:
    op.create_table(
        "achievements",
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("achievement_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.CheckConstraint("target >= 1", name="ck_achievements_target"),
        _game_fk("achievements"),
        sa.PrimaryKeyConstraint("game_id", "achievement_id", name="pk_achievements"),
    )
    op.create_table(
        "achievement_progress",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("achievement_id", sa.String(128), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("unlocked_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["game_id", "achievement_id"],
            ["achievements.game_id", "achievements.achievement_id"],
            name="fk_achievement_progress_achievement",
            ondelete="CASCADE",
        ),
        _user_fk("achievement_progress"),
        sa.PrimaryKeyConstraint(
            "user_id", "game_id", "achievement_id", name="pk_achievement_progress"
        ),
    )
    op.create_index(
        "ix_achievement_progress_game_id_achievement_id",
        "achievement_progress",
        ["game_id", "achievement_id"],
    )


def _create_wishlist_and_settings() -> None:
    op.create_table(
        "wishlist",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("added_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _user_fk("wishlist"),
        _game_fk("wishlist"),
        sa.PrimaryKeyConstraint("user_id", "game_id", name="pk_wishlist"),
    )
    op.create_table(
        "game_settings",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("settings", JSON_DOCUMENT, nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _user_fk("game_settings"),
        _game_fk("game_settings"),
        sa.PrimaryKeyConstraint("user_id", "game_id", "version", name="pk_game_settings"),
    )


def _create_savegames() -> None:
    op.create_table(
        "savegames",
        sa.Column("save_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("slot", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("based_on_version", sa.Integer(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("confirmed_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("state IN ('pending', 'confirmed')", name="ck_savegames_state"),
        _user_fk("savegames"),
        _game_fk("savegames"),
        sa.PrimaryKeyConstraint("save_id", name="pk_savegames"),
        sa.UniqueConstraint(
            "user_id",
            "game_id",
            "slot",
            "version",
            name="uq_savegames_user_id_game_id_slot_version",
        ),
    )


def downgrade() -> None:
    for table in (
        "savegames",
        "game_settings",
        "wishlist",
        "achievement_progress",
        "achievements",
        "family_members",
        "playtime_sessions",
        "entry_categories",
        "user_categories",
        "processed_events",
    ):
        op.drop_table(table)
    with op.batch_alter_table("library_entries") as batch:
        batch.drop_column("last_played_at")
        batch.drop_column("playtime_seconds")
        batch.drop_column("notes")
    with op.batch_alter_table("catalog") as batch:
        batch.drop_column("server_key")
        batch.drop_column("platforms")
