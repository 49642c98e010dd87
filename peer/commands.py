"""``peerpipe agent serve`` and the player's commands over the agent API: ``install``,
``downloads``, ``pause|resume|cancel``, ``verify``, ``repair``, ``update``, ``rollback``,
``preload [status]``, ``unlock``, ``settings show|set``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from peerpipe.config import Config
from peerpipe.service import serve_forever

from .app import create_app
from .client import AgentClient, run_command

_POLL_SECONDS = 0.5
_FINISHED = ("installed", "failed", "refused", "cancelled")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = subparsers.add_parser("agent", help="the player's peer agent")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    serve = agent_commands.add_parser("serve", help="run the agent and its local API")
    serve.set_defaults(handler=serve_agent)

    install = _client_parser(subparsers, "install", "install a game through the running agent")
    install.add_argument("game", help="game id")
    install.add_argument("--release", type=int, default=None, help="release number (latest)")
    install.add_argument("--no-wait", action="store_true", help="queue it and return")
    install.set_defaults(handler=install_game)

    listing = _client_parser(subparsers, "downloads", "list downloads and their progress")
    listing.set_defaults(handler=list_downloads)
    for action in ("pause", "resume", "cancel"):
        change = _client_parser(subparsers, action, f"{action} a download")
        change.add_argument("download_id", help="download id (from `peerpipe downloads`)")
        change.set_defaults(handler=change_download, action=action)
    for action in ("verify", "repair"):
        check = _client_parser(subparsers, action, f"{action} an installed game")
        check.add_argument("game", help="game id")
        check.set_defaults(handler=verify_game if action == "verify" else repair_game)

    update = _client_parser(subparsers, "update", "update an installed game to its latest release")
    update.add_argument("game", help="game id")
    update.set_defaults(handler=update_game)
    back = _client_parser(subparsers, "rollback", "switch a game back to its previous release")
    back.add_argument("game", help="game id")
    back.set_defaults(handler=rollback_game)
    preload = _client_parser(
        subparsers, "preload", "preload a locked release (`preload GAME`), or show it "
        "(`preload status GAME`)",
    )  # fmt: skip
    preload.add_argument("words", nargs="+", metavar="[status] GAME")
    preload.add_argument("--no-wait", action="store_true", help="start it and return")
    preload.set_defaults(handler=preload_command)
    unlock = _client_parser(subparsers, "unlock", "install a preloaded release once it unlocks")
    unlock.add_argument("game", help="game id")
    unlock.set_defaults(handler=unlock_game)

    settings = _client_parser(subparsers, "settings", "show or change the agent's settings")
    settings_commands = settings.add_subparsers(dest="settings_command", required=True)
    show = settings_commands.add_parser("show", help="print the settings")
    show.set_defaults(handler=show_settings)
    change = settings_commands.add_parser("set", help="change settings: NAME=VALUE ...")
    change.add_argument("assignments", nargs="+", metavar="NAME=VALUE")
    change.set_defaults(handler=set_settings)


def _client_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=text)
    parser.add_argument("--agent-url", default=None, help="agent API (from the config)")
    return parser


def serve_agent(args: argparse.Namespace, config: Config) -> int:
    agent = config.agent
    asyncio.run(serve_forever(create_app(config), agent.host, agent.port))
    return 0


def install_game(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        body = {"game_id": args.game, "release": args.release}
        download = await client.call("POST", "/downloads", body)
        if args.no_wait:
            print(download["id"])
            return 0
        download = await _follow(client, download)
        if download["state"] == "installed" and download["verified"]:
            print(
                f"installed {args.game} release {download['release']} "
                f"({download['total_bytes']} bytes: {download['peer_bytes']} from peers, "
                f"{download['cdn_bytes']} from the CDN)"
            )
            return 0
        print(f"error: {download['state']}: {download['error']}", file=sys.stderr)
        return 1

    return run_command(config, args.agent_url, command)


async def _follow(client: AgentClient, download: dict[str, Any]) -> dict[str, Any]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("peers {task.fields[peer]} · CDN {task.fields[cdn]} · {task.fields[state]}"),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(download["game_id"], total=None, peer="0", cdn="0", state="")
        while download["state"] not in _FINISHED:
            await asyncio.sleep(_POLL_SECONDS)
            download = await client.call("GET", f"/downloads/{download['id']}")
            progress.update(
                task,
                total=download["total_bytes"] or None,
                completed=download["downloaded_bytes"],
                peer=_size(download["peer_bytes"]),
                cdn=_size(download["cdn_bytes"]),
                state=download["state"],
            )
    return download


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MiB"


def list_downloads(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        items = (await client.call("GET", "/downloads"))["items"]
        table = Table(title="downloads")
        for column in ("id", "game", "release", "state", "progress", "peers", "CDN", "rate"):
            table.add_column(column, no_wrap=column in ("id", "state"))
        for item in items:
            total = item["total_bytes"] or 0
            share = f"{100 * item['downloaded_bytes'] / total:.0f}%" if total else "-"
            table.add_row(
                item["id"][:8], item["game_id"], str(item["release"] or "latest"), item["state"],
                share, _size(item["peer_bytes"]), _size(item["cdn_bytes"]),
                f"{_size(item['download_rate'])}/s",
            )  # fmt: skip
        Console().print(table)
        return 0

    return run_command(config, args.agent_url, command)


def change_download(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        download = await client.call("PUT", f"/downloads/{args.download_id}/{args.action}")
        print(f"{download['id']} {download['game_id']}: {download['state']}")
        return 0

    return run_command(config, args.agent_url, command)


def verify_game(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        report = await client.call("POST", f"/content/{args.game}/verify")
        if report["ok"]:
            print(f"{args.game} release {report['release']}: {report['files_checked']} files ok")
            return 0
        for item in report["mismatches"]:
            print(f"{item['path']}: {item['reason']}")
        print(f"error: {len(report['mismatches'])} file(s) damaged; run `peerpipe repair "
              f"{args.game}`", file=sys.stderr)  # fmt: skip
        return 1

    return run_command(config, args.agent_url, command)


def repair_game(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        download = await _follow(client, await client.call("POST", f"/content/{args.game}/repair"))
        if download["state"] == "installed":
            print(f"repaired {args.game} ({download['cdn_bytes']} bytes from the CDN in all)")
            return 0
        print(f"error: {download['state']}: {download['error']}", file=sys.stderr)
        return 1

    return run_command(config, args.agent_url, command)


def show_settings(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        print(json.dumps(await client.call("GET", "/settings"), indent=2, sort_keys=True))
        return 0

    return run_command(config, args.agent_url, command)


def set_settings(args: argparse.Namespace, config: Config) -> int:
    changes: dict[str, Any] = {}
    for assignment in args.assignments:
        name, sep, raw = assignment.partition("=")
        if not sep or not name:
            print(f"error: expected NAME=VALUE, got {assignment!r}", file=sys.stderr)
            return 2
        try:
            changes[name] = json.loads(raw)  # numbers, true/false, lists for the schedule
        except ValueError:
            changes[name] = raw  # plain text (install_dir, preferred_region)

    async def command(client: AgentClient) -> int:
        print(json.dumps(await client.call("PUT", "/settings", changes), indent=2, sort_keys=True))
        return 0

    return run_command(config, args.agent_url, command)


def update_game(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        check = await client.call("POST", f"/updates/{args.game}/check")
        if not check["update_available"]:
            print(f"{args.game} is up to date (release {check['installed_release']})")
            return 0
        print(
            f"{args.game}: release {check['installed_release']} -> {check['latest_release']}"
            + (" (critical)" if check["critical"] else "")
        )
        if check["changelog"]:
            print(check["changelog"])
        if check["locked"]:
            print(f"release {check['latest_release']} is locked until {check['unlock_at']}: "
                  "preloading it instead")  # fmt: skip
        await client.call("POST", f"/updates/{args.game}/download")
        if check["locked"]:
            return _preload_outcome(args.game, await _follow_preload(client, args.game))
        run = await _follow_update(client, args.game)
        if run["state"] == "updated":
            print(
                f"updated {args.game} to release {run['to_release']} ({run['fetched_bytes']} "
                f"bytes fetched: {run['peer_bytes']} from peers, {run['cdn_bytes']} from the "
                f"CDN; {run['reused_bytes']} reused from the installed release)"
            )
            return 0
        print(f"error: update failed: {run['error']}", file=sys.stderr)
        return 1

    return run_command(config, args.agent_url, command)


def preload_command(args: argparse.Namespace, config: Config) -> int:
    words = list(args.words)
    if len(words) == 2 and words[0] == "status":
        return run_command(config, args.agent_url, lambda client: _preload_status(client, words[1]))
    if len(words) != 1:
        print("error: usage: peerpipe preload GAME | peerpipe preload status GAME",
              file=sys.stderr)  # fmt: skip
        return 2
    game = words[0]

    async def command(client: AgentClient) -> int:
        run = await client.call("POST", f"/preload/{game}")
        print(f"preloading {game} release {run['release']} (locked until {run['unlock_at']}): "
              f"{run['total']} sealed chunks")  # fmt: skip
        if args.no_wait:
            return 0
        return _preload_outcome(game, await _follow_preload(client, game))

    return run_command(config, args.agent_url, command)


async def _preload_status(client: AgentClient, game: str) -> int:
    run = await client.call("GET", f"/preload/{game}/status")
    if run["state"] == "none":
        print(f"{game}: no preload")
        return 0
    line = (f"{game}: {run['state']} release {run['release']} ({run['done']}/{run['total']} "
            f"sealed chunks), unlocks at {run['unlock_at']}")  # fmt: skip
    print(line + (f": {run['error']}" if run["error"] else ""))
    return 0


async def _follow_preload(client: AgentClient, game: str) -> dict[str, Any]:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}"
               "/{task.total} chunks"))  # fmt: skip
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"{game} preload", total=None)
        while True:
            run: dict[str, Any] = await client.call("GET", f"/preload/{game}/status")
            progress.update(task, total=run["total"] or None, completed=run["done"])
            if run["state"] != "preloading":
                return run
            await asyncio.sleep(_POLL_SECONDS)


def _preload_outcome(game: str, run: dict[str, Any]) -> int:
    if run["state"] in ("preloaded", "unlocked"):
        print(f"preloaded {game} release {run['release']}; it unlocks at {run['unlock_at']} "
              f"(then: peerpipe unlock {game})")  # fmt: skip
        return 0
    print(f"error: preload {run['state']}: {run['error']}", file=sys.stderr)
    return 1


def unlock_game(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        done = await client.call("POST", f"/preload/{args.game}/unlock")
        print(
            f"unlocked {args.game} release {done['release']} ({done['opened_bytes']} new "
            f"bytes from the preload, peers ({done['peer_bytes']} bytes) and the CDN "
            f"({done['cdn_bytes']} bytes); {done['reused_bytes']} reused)"
        )
        return 0

    return run_command(config, args.agent_url, command)


async def _follow_update(client: AgentClient, game: str) -> dict[str, Any]:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(game, total=None)
        while True:
            run: dict[str, Any] = (await client.call("GET", f"/updates/{game}"))["update"]
            progress.update(task, total=run["total_bytes"] or None, completed=run["done_bytes"])
            if run["state"] != "running":
                return run
            await asyncio.sleep(_POLL_SECONDS)


def rollback_game(args: argparse.Namespace, config: Config) -> int:
    async def command(client: AgentClient) -> int:
        switched = await client.call("POST", f"/updates/{args.game}/rollback")
        print(f"{args.game} rolled back to release {switched['release']}")
        return 0

    return run_command(config, args.agent_url, command)
