"""Engines and schema migrations for the two supported databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.sql.dml import Insert

from library_api.errors import LibraryError, StoreUnavailable
from peerpipe.config import Config
from peerpipe.logs import fields

PACKAGE_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"
# Any fixed number: serialises migrations when several API instances start at once.
MIGRATION_LOCK_ID = 0x5EE2_1B2A
SUPPORTED_DIALECTS = ("sqlite", "postgresql")

log = logging.getLogger("library_api.database")


def database_url(config: Config) -> str:
    """The configured database, or a SQLite file in the data directory."""
    return config.library.database_url or f"sqlite+aiosqlite:///{config.data_dir / 'library.db'}"


def safe_url(url: str) -> str:
    """The URL with any password masked, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers work while one writer commits; memory databases ignore it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; SQLite files get their directory created."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"invalid database URL: {exc}") from None
    dialect = parsed.get_backend_name()
    if dialect not in SUPPORTED_DIALECTS:
        raise StoreUnavailable(f"unsupported database {dialect!r}: use sqlite or postgresql")
    if dialect == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # A pool as large as the load it serves: overflow connections are closed on return, and
    # reconnecting to PostgreSQL costs more than a whole request. No pre-ping (a round trip
    # per request): a connection the server dropped fails one request and leaves the pool.
    return create_async_engine(parsed, pool_size=10, max_overflow=10, pool_recycle=1800)


def alembic_config() -> AlembicConfig:
    """Alembic settings pointing at this package's migration scripts."""
    settings = AlembicConfig(str(ALEMBIC_INI))
    settings.set_main_option("script_location", str(PACKAGE_DIR / "alembic"))
    return settings


def lock_migrations(connection: Connection) -> None:
    """Hold a transaction-scoped lock so concurrent starts migrate one after another."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})


def _upgrade_to_head(connection: Connection) -> None:
    settings = alembic_config()
    settings.attributes["connection"] = connection
    command.upgrade(settings, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to_head)
    except (SQLAlchemyError, OSError) as exc:
        url = safe_url(engine.url.render_as_string(hide_password=False))
        raise StoreUnavailable(f"cannot migrate library database {url}: {exc}") from None
    log.info("library schema is current", extra=fields(database=engine.url.get_backend_name()))


def insert_ignoring_conflict(
    session: AsyncSession,
    table: Table,
    values: dict[str, Any],
    conflict_columns: list[str],
    where: Any = None,
) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the session's dialect.

    Both engines spell it alike; going through it keeps first-call races (two requests
    creating the same user or passkey) from failing either request.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return (
            postgresql.insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=conflict_columns, index_where=where)
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=conflict_columns, index_where=where)
        )
    raise LibraryError(f"unsupported database {dialect!r}")
