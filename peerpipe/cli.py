"""The ``peerpipe`` command: one argparse tree, each package contributing its own commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from peerpipe.config import Config, ConfigError, load_or_create_platform_key
from peerpipe.logs import configure_logging

Handler = Callable[[argparse.Namespace, Config], int]


def build_parser() -> argparse.ArgumentParser:
    from library_api import commands as library_commands
    from peer import commands as peer_commands
    from peerpipe import admin_commands, demo
    from seeder import commands as seeder_commands
    from signing import commands as signing_commands
    from tracker import commands as tracker_commands

    parser = argparse.ArgumentParser(
        prog="peerpipe",
        description="PeerPipe: signed game releases over a private P2P swarm with CDN fallback.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    admin = commands.add_parser("admin", help="platform administration (tokens, trust, swarms)")
    admin_commands_group = admin.add_subparsers(
        dest="admin_command", metavar="ADMIN", required=True
    )

    library_commands.register(commands)
    tracker_commands.register(commands)
    seeder_commands.register(commands)
    peer_commands.register(commands)
    demo.register(commands)

    admin_commands.register_admin(admin_commands_group)
    signing_commands.register_admin(admin_commands_group)
    library_commands.register_admin(admin_commands_group)
    if hasattr(tracker_commands, "register_admin"):
        tracker_commands.register_admin(admin_commands_group)
    return parser


def load_config(env: Mapping[str, str] | None = None) -> Config:
    config = Config.from_env(env)
    if not config.platform_key:
        config = replace(config, platform_key=load_or_create_platform_key(config.data_dir))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"peerpipe: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_json)
    handler: Handler = args.handler
    try:
        return handler(args, config)
    except KeyboardInterrupt:
        print("peerpipe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
