"""Builders shared by the trust package's tests (a plain module: conftest holds fixtures)."""

from __future__ import annotations

import argparse
from pathlib import Path

import release_factory
from aiohttp import web

from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from signing import ReleaseManifest
from signing.commands import register_admin


def make_manifest(game_id: str = "space-miner", release: int = 1) -> ReleaseManifest:
    """A small, valid manifest: two files, one of them empty."""
    files = {"bin/game": b"hello world\n" * 100, "data/empty.pak": b""}
    return release_factory.make_manifest(game_id, release, files)


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
