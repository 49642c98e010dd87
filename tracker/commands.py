"""``peerpipe tracker serve`` and ``peerpipe admin swarms list|show|ban|unregister``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from peerpipe.config import Config
from peerpipe.service import run_event_loop as run_tracker
from tracker.admin_client import TrackerAdminClient
from tracker.app import create_app
from tracker.errors import TrackerError
from tracker.options import TrackerOptions
from tracker.serving import serve_until_stopped

Handler = Callable[[argparse.Namespace, Config], int]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tracker = subparsers.add_parser("tracker", help="the private BitTorrent tracker")
    commands = tracker.add_subparsers(dest="tracker_command", metavar="COMMAND", required=True)
    serve = commands.add_parser("serve", help="serve HTTP and UDP announce, scrape, admin API")
    serve.add_argument("--host", help="address to listen on (default: PEERPIPE_TRACKER_HOST)")
    serve.add_argument(
        "--port", type=int, help="port to listen on (default: PEERPIPE_TRACKER_PORT)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the ports (SO_REUSEPORT); more than one needs the Redis store"
        " (PEERPIPE_REDIS_URL), since the in-process one lives in one process",
    )
    serve.set_defaults(handler=serve_tracker)


def serve_tracker(args: argparse.Namespace, config: Config) -> int:
    host = args.host or config.tracker.host
    port = config.tracker.port if args.port is None else args.port
    workers = getattr(args, "workers", 1)
    config = replace(config, tracker=replace(config.tracker, host=host, port=port))
    if workers < 1 or (workers > 1 and not config.tracker.redis_url):
        print(
            "peerpipe tracker serve: --workers above 1 needs PEERPIPE_REDIS_URL"
            " (peers held in-process are not shared between processes)"
            if workers > 1
            else "peerpipe tracker serve: --workers must be at least 1",
            file=sys.stderr,
        )
        return 2
    if workers > 1 and port == 0:
        print("peerpipe tracker serve: --workers above 1 needs a fixed port", file=sys.stderr)
        return 2
    spawn = multiprocessing.get_context("spawn")
    others = [
        spawn.Process(target=serve_worker, args=(config, workers > 1), daemon=True)
        for _ in range(workers - 1)
    ]
    for worker in others:
        worker.start()
    try:
        return serve_worker(config, workers > 1)
    finally:
        for worker in others:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)
        for worker in others:
            worker.join(10)


def serve_worker(config: Config, shared_port: bool) -> int:
    """One tracker process: the lean announce listener in front of the app, on uvloop."""
    options = TrackerOptions(reuse_port=shared_port)
    host, port = config.tracker.host, config.tracker.port
    try:
        run_tracker(serve_until_stopped(create_app(config, options), host, port, shared_port))
    except (TrackerError, OSError) as exc:
        print(f"peerpipe tracker serve: {exc}", file=sys.stderr)
        return 1
    return 0


def register_admin(admin_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    swarms = admin_subparsers.add_parser(
        "swarms", help="inspect and police the tracker's swarms (PEERPIPE_TRACKER_URL)"
    )
    commands = swarms.add_subparsers(dest="swarms_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="every swarm with seeders, leechers, bytes")
    listing.add_argument("--json", action="store_true", help="print the API's JSON")
    listing.set_defaults(handler=_exit_code(list_swarms))
    show = commands.add_parser("show", help="one swarm and its peers")
    show.add_argument("info_hash", help="v1 or truncated v2 info-hash, 40 hex digits")
    show.add_argument("--limit", type=int, default=200, help="peers to show (max 1000)")
    show.add_argument("--json", action="store_true", help="print the API's JSON")
    show.set_defaults(handler=_exit_code(show_swarm))
    ban = commands.add_parser("ban", help="refuse a peer id, a passkey or an IP range")
    target = ban.add_mutually_exclusive_group(required=True)
    target.add_argument("--peer", metavar="PEER_ID_HEX", help="peer id, 40 hex digits")
    target.add_argument("--passkey", help="a player's passkey")
    target.add_argument("--ip-range", metavar="CIDR", help="e.g. 203.0.113.0/24")
    ban.add_argument("--reason", default="", help="why (kept with the ban)")
    ban.set_defaults(handler=_exit_code(ban_target))
    unregister = commands.add_parser("unregister", help="forget a swarm and its peers")
    unregister.add_argument("info_hash", help="v1 or truncated v2 info-hash, 40 hex digits")
    unregister.set_defaults(handler=_exit_code(unregister_swarm))


def _client(config: Config) -> TrackerAdminClient:
    return TrackerAdminClient(config.tracker.public_url, config.platform_key)


class _Failed(Exception):
    pass


def _run(name: str, work: Coroutine[Any, Any, Any]) -> Any:
    """The awaited result; on a refusal prints one line on stderr and raises :class:`_Failed`."""
    try:
        return asyncio.run(work)
    except TrackerError as exc:
        print(f"peerpipe admin swarms {name}: {exc}", file=sys.stderr)
        raise _Failed from None


def _exit_code(handler: Callable[[argparse.Namespace, Config], int]) -> Handler:
    @functools.wraps(handler)
    def run(args: argparse.Namespace, config: Config) -> int:
        try:
            return handler(args, config)
        except _Failed:
            return 1

    return run


def list_swarms(args: argparse.Namespace, config: Config) -> int:
    items = _run("list", _client(config).swarms())
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    print(
        f"{'info-hash v1':40}  {'game':20} {'rel':>4} {'seed':>6} {'leech':>6} {'done':>6}"
        f" {'up bytes':>14} {'down bytes':>14}"
    )
    for swarm in items:
        print(
            f"{swarm['info_hash_v1']:40}  {swarm['game_id'][:20]:20} {swarm['release']:>4}"
            f" {swarm['seeders']:>6} {swarm['leechers']:>6} {swarm['completed']:>6}"
            f" {swarm['bytes_uploaded']:>14} {swarm['bytes_downloaded']:>14}"
        )
    return 0


def show_swarm(args: argparse.Namespace, config: Config) -> int:
    swarm = _run("show", _client(config).swarm(args.info_hash, args.limit))
    if args.json:
        print(json.dumps(swarm, indent=2))
        return 0
    print(
        f"{swarm['game_id']} release {swarm['release']}: {swarm['seeders']} seeders,"
        f" {swarm['leechers']} leechers, {swarm['completed']} completed"
    )
    for peer in swarm["peers"]:
        role = "seeder" if peer["seeder"] else "leecher"
        print(
            f"  {peer['peer_id']}  {peer['ip']}:{peer['port']}  {role:7}"
            f"  owner {peer['owner']}  seen {peer['last_seen_seconds_ago']}s ago"
        )
    return 0


def ban_target(args: argparse.Namespace, config: Config) -> int:
    if args.peer:
        kind, value = "peer", args.peer
    elif args.passkey:
        kind, value = "passkey", args.passkey
    else:
        kind, value = "ip_range", args.ip_range
    ban = _run("ban", _client(config).ban(kind, value, args.reason))
    print(f"banned {ban['kind']} {ban['value']}")
    return 0


def unregister_swarm(args: argparse.Namespace, config: Config) -> int:
    _run("unregister", _client(config).unregister(args.info_hash))
    print(f"unregistered {args.info_hash}")
    return 0
