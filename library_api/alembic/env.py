"""Alembic environment: migrations on a connection the service hands over, or from the CLI."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from library_api.activity_models import ProcessedEvent
from library_api.database import create_engine, database_url, lock_migrations
from peerpipe.config import Config


def _run_on(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables (it cannot ALTER most things).
    context.configure(
        connection=connection, target_metadata=ProcessedEvent.metadata, render_as_batch=True
    )
    with context.begin_transaction():
        lock_migrations(connection)
        context.run_migrations()


def _cli_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    return (
        url or context.config.get_main_option("sqlalchemy.url") or database_url(Config.from_env())
    )


async def _run_from_cli() -> None:
    engine = create_engine(_cli_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_cli_url(), target_metadata=ProcessedEvent.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


given: Connection | None = context.config.attributes.get("connection")
if given is not None:
    _run_on(given)
elif context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_from_cli())
