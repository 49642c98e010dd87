"""Users, passkeys, catalog and library entries (ownership).

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
    )
    op.create_table(
        "catalog",
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("publisher", sa.String(256), nullable=False),
        sa.Column("metadata", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("game_id", name="pk_catalog"),
    )
    op.create_table(
        "passkeys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("passkey", sa.String(32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_passkeys_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_passkeys"),
        sa.UniqueConstraint("passkey", name="uq_passkeys_passkey"),
    )
    op.create_index(
        "uq_passkeys_active_user",
        "passkeys",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    _create_library_entries()


def _create_library_entries() -> None:
    op.create_table(
        "library_entries",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("acquisition_type", sa.String(16), nullable=False),
        sa.Column("acquired_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("installation_status", sa.String(16), nullable=False),
        sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("favorite", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "acquisition_type IN ('purchase', 'gift', 'subscription', 'free')",
            name="ck_library_entries_acquisition_type",
        ),
        sa.CheckConstraint(
            "installation_status IN ('none', 'installing', 'installed', 'failed', 'uninstalled')",
            name="ck_library_entries_installation_status",
        ),
        sa.ForeignKeyConstraint(
            ["game_id"], ["catalog.game_id"], name="fk_library_entries_game_id_catalog"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_library_entries_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "game_id", name="pk_library_entries"),
    )
    op.create_index("ix_library_entries_game_id", "library_entries", ["game_id"])


def downgrade() -> None:
    op.drop_index("ix_library_entries_game_id", table_name="library_entries")
    op.drop_table("library_entries")
    op.drop_index("uq_passkeys_active_user", table_name="passkeys")
    op.drop_table("passkeys")
    op.drop_table("catalog")
    op.drop_table("users")
