"""``peerpipe tracker serve``: run the tracker on ``config.tracker.host``/``port``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

from peerpipe.config import Config
from peerpipe.service import serve_forever
from tracker.app import create_app
from tracker.errors import TrackerError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tracker = subparsers.add_parser("tracker", help="the private BitTorrent tracker")
    commands = tracker.add_subparsers(dest="tracker_command", metavar="COMMAND", required=True)
    serve = commands.add_parser("serve", help="serve HTTP announce, scrape and the admin API")
    serve.add_argument("--host", help="address to listen on (default: PEERPIPE_TRACKER_HOST)")
    serve.add_argument(
        "--port", type=int, help="port to listen on (default: PEERPIPE_TRACKER_PORT)"
    )
    serve.set_defaults(handler=serve_tracker)


def serve_tracker(args: argparse.Namespace, config: Config) -> int:
    host = args.host or config.tracker.host
    port = config.tracker.port if args.port is None else args.port
    config = replace(config, tracker=replace(config.tracker, host=host, port=port))
    try:
        asyncio.run(serve_forever(create_app(config), host, port))
    except (TrackerError, OSError) as exc:
        print(f"peerpipe tracker serve: {exc}", file=sys.stderr)
        return 1
    return 0
