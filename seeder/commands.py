"""``peerpipe publish …`` and ``peerpipe seeder serve``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from peerpipe.config import Config
from peerpipe.service import serve_forever
from seeder.errors import SeederError
from seeder.origin import OriginStore
from seeder.origin_settings import SeederOriginSettings
from seeder.publish import publish_release
from seeder.s3_origin import S3Origin


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    publish = subparsers.add_parser("publish", help="publish a signed release of a build folder")
    publish.add_argument("build_dir", metavar="BUILD_DIR", type=Path)
    publish.add_argument("--game", required=True, help="game id, e.g. space-miner")
    publish.add_argument("--version", required=True, help="the build's version, e.g. 1.2.0")
    publish.add_argument("--key", required=True, type=Path, help="the publisher's private key")
    publish.add_argument("--title", help="title shown in players' libraries (default: game id)")
    publish.add_argument("--publisher", help="publisher name for the catalog (default: key name)")
    publish.add_argument(
        "--no-register", action="store_true", help="do not contact the tracker and library API"
    )
    publish.add_argument(
        "--critical",
        action="store_true",
        help="players must install this release before the game launches again",
    )
    publish.add_argument(
        "--changelog", default="", metavar="TEXT", help="release notes shown to players"
    )
    publish.add_argument(
        "--unlock-at",
        metavar="ISO8601",
        help="lock the release until this time (e.g. 2027-03-01T18:00Z): players can preload "
        "it, encrypted, before then",
    )
    publish.set_defaults(handler=publish_command)

    seeder = subparsers.add_parser("seeder", help="the CDN node")
    actions = seeder.add_subparsers(dest="seeder_command", required=True)
    serve = actions.add_parser("serve", help="serve the origin over HTTP and BitTorrent")
    serve.set_defaults(handler=serve_command)


def publish_command(args: argparse.Namespace, config: Config) -> int:
    passphrase = _passphrase(args.key, config)
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            with _origin_store(origin_settings(config)) as store:
                result = publish_release(
                    args.build_dir,
                    args.game,
                    args.version,
                    args.key,
                    passphrase,
                    config,
                    title=args.title,
                    progress=progress,
                    publisher=args.publisher,
                    register=not args.no_register,
                    origin=store,
                    critical=args.critical,
                    changelog=args.changelog,
                    unlock_at=args.unlock_at,
                )
        except SeederError as exc:
            print(f"publish failed: {exc}", file=sys.stderr)
            return 1
    manifest = result.manifest
    state = "published" if result.created else "already published as"
    print(
        f"{state} {manifest.game_id} {manifest.version} release {manifest.release} "
        f"({len(manifest.files)} files, {manifest.total_size} bytes, "
        f"info-hash v2 {manifest.torrent.info_hash_v2})"
    )
    if result.key_path is not None:
        print(f"locked until {manifest.unlock_at}; release key saved to {result.key_path}")
    if result.unlocked_files:
        print(f"unlocked since {manifest.unlock_at}: its files and torrent are published")
    return 0


def _passphrase(key_path: Path, config: Config) -> bytes | None:
    value = config.key_passphrase
    if value is not None:
        return value.encode() or None
    if not sys.stdin.isatty():
        return None
    typed = getpass.getpass(f"passphrase for {key_path} (empty if none): ")
    return typed.encode() or None


def origin_settings(config: Config) -> SeederOriginSettings:
    return SeederOriginSettings.from_location(config.seeder.origin_s3)


@contextlib.contextmanager
def _origin_store(settings: SeederOriginSettings) -> Iterator[OriginStore | None]:
    """The S3 origin when one is configured; ``None`` lets publishing use the local folder."""
    if not settings.uses_s3:
        yield None
        return
    with S3Origin(settings) as store:
        yield store


def serve_command(args: argparse.Namespace, config: Config) -> int:
    from seeder.cdn import create_app

    try:
        app = create_app(config, origin=origin_settings(config))
    except SeederError as exc:
        print(f"seeder failed: {exc}", file=sys.stderr)
        return 1
    asyncio.run(serve_forever(app, config.seeder.host, config.seeder.port))
    return 0
