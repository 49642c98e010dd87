"""The agent's state in SQLite (``<agent data dir>/agent.db``).

One connection guarded by a lock; every call runs in a worker thread so the event loop never
waits on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .model import Download, DownloadState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS downloads (
    id TEXT PRIMARY KEY,
    game_id TEXT NOT NULL,
    release INTEGER,
    state TEXT NOT NULL,
    error TEXT,
    total_bytes INTEGER NOT NULL DEFAULT 0,
    downloaded_bytes INTEGER NOT NULL DEFAULT 0,
    peer_bytes INTEGER NOT NULL DEFAULT 0,
    cdn_bytes INTEGER NOT NULL DEFAULT 0,
    download_rate INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    finished_at TEXT,
    seconds REAL NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    created_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resume_data (download_id TEXT PRIMARY KEY, data BLOB NOT NULL);
"""
# columns added after the first release of the schema: (name, declaration)
_ADDED_COLUMNS = (
    ("priority", "INTEGER NOT NULL DEFAULT 0"),
    ("position", "INTEGER NOT NULL DEFAULT 0"),
    ("download_rate_limit", "INTEGER NOT NULL DEFAULT 0"),
    ("upload_rate_limit", "INTEGER NOT NULL DEFAULT 0"),
)

_COLUMNS = (
    "id",
    "game_id",
    "release",
    "state",
    "error",
    "total_bytes",
    "downloaded_bytes",
    "peer_bytes",
    "cdn_bytes",
    "download_rate",
    "started_at",
    "finished_at",
    "seconds",
    "verified",
    "priority",
    "position",
    "download_rate_limit",
    "upload_rate_limit",
)


class DownloadStore:
    """Downloads, persisted; ``save`` inserts or replaces a record."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        present = {row[1] for row in db.execute("PRAGMA table_info(downloads)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in present:
                db.execute(f"ALTER TABLE downloads ADD COLUMN {name} {declaration}")
        self._db = db

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("download store is not open")
        return self._db

    async def save(self, download: Download) -> None:
        await asyncio.to_thread(self._save, download)

    def _save(self, download: Download) -> None:
        row = download.to_json()
        row.pop("upload_rate")
        row["verified"] = int(download.verified)
        row["seconds"] = download.seconds
        names = ", ".join(_COLUMNS)
        marks = ", ".join(f":{name}" for name in _COLUMNS)
        updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS if name != "id")
        with self._lock:
            self._conn().execute(
                f"INSERT INTO downloads ({names}, created_seq) VALUES ({marks}, "
                "(SELECT COALESCE(MAX(created_seq), 0) + 1 FROM downloads)) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                row,
            )

    async def get(self, download_id: str) -> Download | None:
        rows = await asyncio.to_thread(self._select, "WHERE id = ?", (download_id,))
        return rows[0] if rows else None

    async def all(self) -> list[Download]:
        return await asyncio.to_thread(self._select, "", ())

    async def delete(self, download_id: str) -> None:
        await asyncio.to_thread(self._write, "DELETE FROM downloads WHERE id = ?", (download_id,))
        await asyncio.to_thread(
            self._write, "DELETE FROM resume_data WHERE download_id = ?", (download_id,)
        )

    async def setting(self, name: str) -> str | None:
        rows = await asyncio.to_thread(
            self._read, "SELECT value FROM settings WHERE name = ?", (name,)
        )
        return str(rows[0][0]) if rows else None

    async def put_setting(self, name: str, value: str) -> None:
        await asyncio.to_thread(
            self._write,
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def resume_data(self, download_id: str) -> bytes | None:
        rows = await asyncio.to_thread(
            self._read, "SELECT data FROM resume_data WHERE download_id = ?", (download_id,)
        )
        return bytes(rows[0][0]) if rows else None

    async def forget_resume_data(self, download_id: str) -> None:
        """Drop a download's resume data (its torrent changed: an update or a rollback)."""
        await asyncio.to_thread(
            self._write, "DELETE FROM resume_data WHERE download_id = ?", (download_id,)
        )

    def save_resume_data(self, download_id: str, data: bytes) -> None:
        """Blocking: called from a worker thread (libtorrent hands the data over there)."""
        self._write(
            "INSERT INTO resume_data (download_id, data) VALUES (?, ?) "
            "ON CONFLICT(download_id) DO UPDATE SET data = excluded.data",
            (download_id, data),
        )

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            self._conn().execute(sql, params)

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn().execute(sql, params).fetchall())

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Download]:
        names = ", ".join(_COLUMNS)
        with self._lock:
            cursor = self._conn().execute(
                f"SELECT {names} FROM downloads {where} ORDER BY created_seq", params
            )
            rows = cursor.fetchall()
        return [_to_download(dict(zip(_COLUMNS, row, strict=True))) for row in rows]


def _to_download(row: dict[str, Any]) -> Download:
    return Download(
        id=row["id"],
        game_id=row["game_id"],
        release=row["release"],
        state=DownloadState(row["state"]),
        error=row["error"],
        total_bytes=row["total_bytes"],
        downloaded_bytes=row["downloaded_bytes"],
        peer_bytes=row["peer_bytes"],
        cdn_bytes=row["cdn_bytes"],
        download_rate=row["download_rate"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seconds=row["seconds"],
        verified=bool(row["verified"]),
        priority=row["priority"],
        position=row["position"],
        download_rate_limit=row["download_rate_limit"],
        upload_rate_limit=row["upload_rate_limit"],
    )
