"""Installed games: their manifest, verification against it, storage figures."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from .engine import Engine
from .errors import DownloadNotFound
from .model import Download, DownloadState
from .release import Manifest
from .verify import verify_files


def installed_download(engine: Engine, game_id: str) -> Download:
    """The newest download of ``game_id`` that reached the disk (installed or being repaired)."""
    found = [
        item
        for item in engine.live()
        if (item.game_id == game_id and item.release is not None and item.verified)
        or (item.game_id == game_id and item.state is DownloadState.INSTALLED)
    ]
    if not found:
        raise DownloadNotFound(f"game {game_id} is not installed")
    return max(found, key=lambda item: item.release or 0)


async def installed_manifest(engine: Engine, game_id: str) -> tuple[Download, Manifest]:
    download = installed_download(engine, game_id)
    manifest = await engine.runtime.release_source(game_id, download.release)
    return download, manifest


def manifest_json(manifest: Manifest) -> dict[str, Any]:
    return {
        "game_id": manifest.game_id,
        "version": manifest.version,
        "release": manifest.release,
        "total_size": manifest.total_size,
        "files": [
            {"path": entry.path, "size": entry.size, "sha256": entry.sha256}
            for entry in manifest.files
        ],
    }


async def verify_game(engine: Engine, game_id: str) -> dict[str, Any]:
    """Hash every installed file of ``game_id`` against its signed manifest."""
    download, manifest = await installed_manifest(engine, game_id)
    root = engine.runtime.install_root(game_id) / str(manifest.release)
    mismatches = await asyncio.to_thread(verify_files, root, manifest.files)
    return {
        "game_id": game_id,
        "release": manifest.release,
        "download_id": download.id,
        "ok": not mismatches,
        "files_checked": len(manifest.files),
        "mismatches": [{"path": item.path, "reason": item.reason} for item in mismatches],
    }


def storage_json(engine: Engine) -> dict[str, Any]:
    root = engine.runtime.install_root("_").parent
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    games = {
        item.game_id: _tree_size(root / item.game_id)
        for item in engine.live()
        if item.state is DownloadState.INSTALLED
    }
    return {
        "install_dir": str(root),
        "total_bytes": usage.total,
        "free_bytes": usage.free,
        "games": games,
        "used_bytes": sum(games.values()),
    }


def _tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
