"""The schema: built from empty by the migrations on both engines, and matching the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from library_api import migrate
from library_api.database import ALEMBIC_INI, create_engine
from library_api.models import Base

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "alembic_version", "users", "passkeys", "catalog", "library_entries", "user_categories",
    "entry_categories", "processed_events", "playtime_sessions", "family_members",
    "achievements", "achievement_progress", "wishlist", "game_settings", "savegames",
    "release_keys",
}  # fmt: skip


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_build_the_models_schema_from_empty(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second start finds nothing to do
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            version = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one()
            differences = await connection.run_sync(_schema_differences)
    finally:
        await engine.dispose()
    assert tables == TABLES
    assert version == "0003"
    assert differences == []


def test_alembic_command_line_migrates_the_given_database(empty_database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"url={empty_database_url}",
         "upgrade", "head"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    current = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"url={empty_database_url}",
         "current"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert "0003 (head)" in current.stdout, current.stdout + current.stderr


NOW = "'2024-01-01 00:00:00.000000'"


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    from library_api.database import alembic_config

    settings = alembic_config()
    settings.attributes["connection"] = connection
    command.upgrade(settings, revision)


async def test_upgrading_keeps_existing_ownership(empty_database_url: str) -> None:
    """A database at 0001 with players in it gains the new tables and columns, data intact."""
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, "0001")
            for statement in (
                f"INSERT INTO users (user_id, created_at) VALUES ('alice', {NOW})",
                f"INSERT INTO catalog VALUES ('g', 'G', 'P', '{{}}', {NOW}, {NOW})",
                "INSERT INTO library_entries (user_id, game_id, acquisition_type, acquired_at,"
                f" installation_status, updated_at) VALUES ('alice', 'g', 'gift', {NOW},"
                f" 'installed', {NOW})",
            ):
                await connection.execute(text(statement))
        await migrate(engine)
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT acquisition_type, installation_status, notes, playtime_seconds,"
                        " last_played_at FROM library_entries"
                    )
                )
            ).one()
            platforms = (await connection.execute(text("SELECT platforms FROM catalog"))).scalar()
    finally:
        await engine.dispose()
    assert tuple(row) == ("gift", "installed", "", 0, None)
    assert platforms == ""
