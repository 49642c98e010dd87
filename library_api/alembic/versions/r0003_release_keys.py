"""Content keys of locked releases, stored wrapped (never in plaintext).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "release_keys",
        sa.Column("game_id", sa.String(128), nullable=False),
        sa.Column("release", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wrapped_key", sa.String(128), nullable=False),
        sa.Column("unlock_at", TIMESTAMP, nullable=False),
        sa.Column("key_check", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("game_id", "release", name="pk_release_keys"),
    )


def downgrade() -> None:
    op.drop_table("release_keys")
