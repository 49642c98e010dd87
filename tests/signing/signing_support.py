"""Builders shared by the trust package's tests (a plain module: conftest holds fixtures)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from aiohttp import web

from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from signing import (
    ChunkRef,
    ManifestFile,
    ReleaseManifest,
    TorrentRef,
    generate_key,
    load_signer,
    save_private_key,
)
from signing.commands import register_admin
from signing.torrent_files import bencode
from signing.tuf_api import Signer


def make_manifest(game_id: str = "space-miner", release: int = 1) -> ReleaseManifest:
    """A small, valid manifest: two files, one of them empty."""
    content = b"hello world\n" * 100
    digest = hashlib.sha256(content).hexdigest()
    return ReleaseManifest(
        game_id=game_id,
        version=f"1.{release}.0",
        release=release,
        created="2026-11-23T05:00:00+00:00",
        total_size=len(content),
        files=(
            ManifestFile(
                path="bin/game",
                size=len(content),
                mode=0o755,
                sha256=digest,
                chunks=(ChunkRef(sha256=digest, offset=0, size=len(content)),),
            ),
            ManifestFile(
                path="data/empty.pak",
                size=0,
                mode=0o644,
                sha256=hashlib.sha256(b"").hexdigest(),
                chunks=(),
            ),
        ),
        torrent=TorrentRef(
            name=str(release),
            piece_length=16384,
            info_hash_v1="ab" * 20,
            info_hash_v2="cd" * 32,
            data=torrent_for(release, {"bin/game": len(content), "data/empty.pak": 0}),
        ),
    )


def torrent_for(
    release: int,
    files: dict[str, int],
    attrs: dict[str, dict[str, object]] | None = None,
    extra: dict[str, object] | None = None,
) -> bytes:
    """A v1 .torrent listing ``files`` (path → size) under the release folder, with extra
    keys per file from ``attrs`` and ``extra`` keys in the info dictionary. Piece hashes are
    irrelevant to these tests."""
    entries = [
        {"length": size, "path": path.split("/"), **(attrs or {}).get(path, {})}
        for path, size in files.items()
    ]
    info = {"name": str(release), "piece length": 16384, "pieces": b"", "files": entries}
    return bencode({"info": {**info, **(extra or {})}})


def new_signer(directory: Path, name: str) -> Signer:
    path = directory / f"{name}.pem"
    save_private_key(generate_key(), path, passphrase=None)
    return load_signer(path, passphrase=None)


async def serve_repository(trust_dir: Path) -> RunningApp:
    """Serve metadata/ and targets/ of a repository directory as a CDN node does."""
    app = web.Application()
    app.router.add_static("/metadata/", trust_dir / "metadata")
    app.router.add_static("/targets/", trust_dir / "targets")
    return await start_app(app)


def run(config: Config, *argv: str) -> int:
    """``peerpipe admin …`` through the argparse tree the CLI builds; the exit code."""
    parser = argparse.ArgumentParser(prog="peerpipe")
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("admin")
    register_admin(admin.add_subparsers(dest="admin_command", required=True))
    args = parser.parse_args(["admin", *argv])
    result: int = args.handler(args, config)
    return result
