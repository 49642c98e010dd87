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
TABLES = {"alembic_version", "users", "passkeys", "catalog", "library_entries"}


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_build_the_models_schema_from_empty(database_url: str) -> None:
    engine = create_engine(database_url)
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
    assert version == "0001"
    assert differences == []


def test_alembic_command_line_migrates_the_given_database(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"url={database_url}",
         "upgrade", "head"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    current = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"url={database_url}",
         "current"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert "0001 (head)" in current.stdout, current.stdout + current.stderr
