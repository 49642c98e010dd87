"""``peerpipe agent serve`` and ``peerpipe install GAME``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from peerpipe.config import Config
from peerpipe.service import serve_forever

from .app import API_TOKEN_FILE, create_app

_POLL_SECONDS = 0.5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = subparsers.add_parser("agent", help="the player's peer agent")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    serve = agent_commands.add_parser("serve", help="run the agent and its local API")
    serve.set_defaults(handler=serve_agent)

    install = subparsers.add_parser("install", help="install a game through the running agent")
    install.add_argument("game", help="game id")
    install.add_argument("--release", type=int, default=None, help="release number (latest)")
    install.add_argument("--agent-url", default=None, help="agent API (from the config)")
    install.add_argument("--no-wait", action="store_true", help="queue it and return")
    install.set_defaults(handler=install_game)


def serve_agent(args: argparse.Namespace, config: Config) -> int:
    agent = config.agent
    asyncio.run(serve_forever(create_app(config), agent.host, agent.port))
    return 0


def install_game(args: argparse.Namespace, config: Config) -> int:
    agent = config.agent
    url = (args.agent_url or f"http://{agent.host}:{agent.port}").rstrip("/")
    token_file = agent.data_dir / API_TOKEN_FILE
    try:
        token = token_file.read_text().strip()
    except OSError:
        print(f"error: no agent API token at {token_file}; is the agent running?", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_install(url, token, args.game, args.release, not args.no_wait))
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"error: agent at {url} unreachable: {exc}", file=sys.stderr)
        return 2


class _AgentClient:
    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self._http = http
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        async with self._http.request(
            method, self._url + path, json=body, headers=self._headers
        ) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                detail = data.get("detail") or data.get("title") if isinstance(data, dict) else ""
                raise _AgentRefused(f"agent answered {response.status}: {detail}")
            if not isinstance(data, dict):
                raise _AgentRefused("agent answered with something other than a JSON object")
            return data


class _AgentRefused(Exception):
    pass


async def _install(url: str, token: str, game: str, release: int | None, wait: bool) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        client = _AgentClient(http, url, token)
        try:
            download = await client.call(
                "POST", "/api/v1/downloads", {"game_id": game, "release": release}
            )
            if not wait:
                print(download["id"])
                return 0
            download = await _follow(client, download)
        except _AgentRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if download["state"] == "installed" and download["verified"]:
        print(
            f"installed {game} release {download['release']} ({download['total_bytes']} bytes: "
            f"{download['peer_bytes']} from peers, {download['cdn_bytes']} from the CDN)"
        )
        return 0
    print(f"error: {download['state']}: {download['error']}", file=sys.stderr)
    return 1


async def _follow(client: _AgentClient, download: dict[str, Any]) -> dict[str, Any]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("peers {task.fields[peer]} B · CDN {task.fields[cdn]} B · {task.fields[state]}"),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(download["game_id"], total=None, peer=0, cdn=0, state="queued")
        while download["state"] not in ("installed", "failed", "refused"):
            await asyncio.sleep(_POLL_SECONDS)
            download = await client.call("GET", f"/api/v1/downloads/{download['id']}")
            progress.update(
                task,
                total=download["total_bytes"] or None,
                completed=download["downloaded_bytes"],
                peer=download["peer_bytes"],
                cdn=download["cdn_bytes"],
                state=download["state"],
            )
    return download
