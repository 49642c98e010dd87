"""``peerpipe demo``: a whole network on loopback, three players installing one signed release.

Two players own the game and one does not. The owners install at once, trading pieces with
each other while the CDN node (with finite bandwidth, as real CDNs have) fills in; the
non-owner is refused. Prints a table per agent and, last, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from peerpipe.config import Config
from peerpipe.network import AgentHandle, LocalNetwork, NetworkError, request_json
from peerpipe.sample_game import generate_sample_game

GAME_ID = "starfall"
PUBLISHER = "nebula-studios"
OWNERS = ("alice", "bob")
NON_OWNERS = ("carol",)
TERMINAL_STATES = {"installed", "seeding", "failed", "refused", "cancelled"}
MIB = 1024 * 1024
Say = Callable[..., None]


def _quiet(*_: object) -> None:
    return None


@dataclass(frozen=True)
class AgentOutcome:
    user: str
    state: str
    peer_bytes: int
    cdn_bytes: int
    seconds: float
    verified: bool
    error: str | None


@dataclass(frozen=True)
class ScenarioResult:
    release_bytes: int
    agents: tuple[AgentOutcome, ...]
    refused: tuple[str, ...]
    # What the library API says of each owner's install, as the agents reported it.
    library_status: tuple[tuple[str, str], ...] = ()

    @property
    def cdn_bytes(self) -> int:
        return sum(agent.cdn_bytes for agent in self.agents)

    @property
    def peer_bytes(self) -> int:
        return sum(agent.peer_bytes for agent in self.agents)

    def summary(self) -> dict[str, Any]:
        installed = [agent for agent in self.agents if agent.state in {"installed", "seeding"}]
        return {
            "release_bytes": self.release_bytes,
            "cdn_bytes": self.cdn_bytes,
            "peer_bytes": self.peer_bytes,
            "agents": [
                {
                    "user": agent.user,
                    "peer_bytes": agent.peer_bytes,
                    "cdn_bytes": agent.cdn_bytes,
                    "seconds": round(agent.seconds, 2),
                    "verified": agent.verified,
                }
                for agent in installed
            ],
            "refused": list(self.refused),
        }


@dataclass(frozen=True)
class ScenarioOptions:
    root: Path
    game_bytes: int = 64 * MIB
    # A CDN node's bandwidth is finite and costs money; capping it is what makes the swarm
    # matter on a loopback network where everything else is nearly free.
    cdn_rate_limit: int = 12 * MIB
    deadline_s: float = 240.0


async def run_scenario(options: ScenarioOptions, console: Console | None = None) -> ScenarioResult:
    network = LocalNetwork(
        options.root,
        cdn_http_rate_limit=options.cdn_rate_limit,
        cdn_upload_rate_limit=options.cdn_rate_limit,
    )
    say: Say = console.log if console else _quiet
    try:
        await network.start()
        say(
            f"library {network.library_url}  tracker {network.tracker_url}  cdn {network.seeder_url}"
        )
        await _set_up_trust_and_publish(network, options, say)
        agents = await asyncio.gather(*(network.start_agent(u) for u in OWNERS + NON_OWNERS))
        say("three agents up; installing")
        outcomes = await _install_everywhere(agents, options.deadline_s, console)
        library_status = await _library_status(network)
    finally:
        await network.stop()
    refused = tuple(
        f"{outcome.user}: {outcome.error}" for outcome in outcomes if outcome.state == "refused"
    )
    release_bytes = _release_bytes(options.root / "build")
    return ScenarioResult(release_bytes, tuple(outcomes), refused, library_status)


async def _library_status(network: LocalNetwork) -> tuple[tuple[str, str], ...]:
    statuses = []
    async with aiohttp.ClientSession() as session:
        for user in OWNERS:
            url = f"{network.library_url}/api/v1/library/{GAME_ID}"
            status, body = await request_json(session, "GET", url, network.user_token(user))
            statuses.append((user, str(body.get("installation_status")) if status == 200 else ""))
    return tuple(statuses)


async def _set_up_trust_and_publish(
    network: LocalNetwork, options: ScenarioOptions, say: Say
) -> None:
    keys = options.root / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    root_key, publisher_key = keys / "root.pem", keys / "publisher.pem"
    await network.run_cli("admin", "keys", "generate", "--out", str(root_key))
    await network.run_cli("admin", "trust", "init", "--root-key", str(root_key))
    await network.run_cli("admin", "keys", "generate", "--out", str(publisher_key))
    await network.run_cli(
        "admin", "trust", "add-publisher", PUBLISHER, "--key", f"{publisher_key}.pub",
        "--games", GAME_ID, "--admin-key", str(root_key),
    )  # fmt: skip
    say("trust root created; publisher delegated for", GAME_ID)
    build = options.root / "build"
    await asyncio.to_thread(generate_sample_game, build, options.game_bytes)
    started = time.monotonic()
    await network.run_cli(
        "publish", str(build), "--game", GAME_ID, "--version", "1.0.0",
        "--key", str(publisher_key), "--title", "Starfall",
    )  # fmt: skip
    say(f"published {GAME_ID} 1.0.0 in {time.monotonic() - started:.1f}s")
    for user in OWNERS:
        await network.run_cli("admin", "grant", "--user", user, "--game", GAME_ID)
    say("ownership granted to", ", ".join(OWNERS))


async def _install_everywhere(
    agents: list[AgentHandle], deadline_s: float, console: Console | None
) -> list[AgentOutcome]:
    async with aiohttp.ClientSession() as session:
        download_ids = await asyncio.gather(*(_start_install(session, a) for a in agents))
        progress = Progress(
            TextColumn("{task.fields[user]:>6}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
            disable=console is None,
        )
        with progress:
            tasks = {
                agent.user: progress.add_task("", total=None, user=agent.user, state="queued")
                for agent in agents
            }
            finals = await asyncio.gather(
                *(
                    _follow(session, agent, download_id, progress, tasks[agent.user], deadline_s)
                    for agent, download_id in zip(agents, download_ids, strict=True)
                )
            )
    return [_outcome(agent.user, final) for agent, final in zip(agents, finals, strict=True)]


async def _start_install(session: aiohttp.ClientSession, agent: AgentHandle) -> str:
    status, body = await request_json(
        session, "POST", f"{agent.url}/api/v1/downloads", agent.api_token(), {"game_id": GAME_ID}
    )
    if status != 202:
        raise NetworkError(f"agent of {agent.user} refused the install request: {body}")
    return str(body["id"])


async def _follow(
    session: aiohttp.ClientSession,
    agent: AgentHandle,
    download_id: str,
    progress: Progress,
    task: TaskID,
    deadline_s: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    url = f"{agent.url}/api/v1/downloads/{download_id}"
    while True:
        status, body = await request_json(session, "GET", url, agent.api_token())
        if status != 200:
            raise NetworkError(f"agent of {agent.user} lost download {download_id}: {body}")
        progress.update(
            task,
            total=body.get("total_bytes") or None,
            completed=body.get("downloaded_bytes", 0),
            state=body["state"],
        )
        if body["state"] in TERMINAL_STATES:
            return dict(body)
        if time.monotonic() > deadline:
            raise NetworkError(f"agent of {agent.user} did not finish within {deadline_s:.0f}s")
        await asyncio.sleep(0.25)


def _outcome(user: str, final: dict[str, Any]) -> AgentOutcome:
    return AgentOutcome(
        user=user,
        state=str(final["state"]),
        peer_bytes=int(final.get("peer_bytes", 0)),
        cdn_bytes=int(final.get("cdn_bytes", 0)),
        seconds=float(final.get("seconds") or 0.0),
        verified=bool(final.get("verified")),
        error=final.get("error"),
    )


def _release_bytes(build: Path) -> int:
    return sum(path.stat().st_size for path in build.rglob("*") if path.is_file())


def render_table(result: ScenarioResult) -> Table:
    table = Table(title=f"{GAME_ID} 1.0.0: {result.release_bytes / MIB:.1f} MiB release")
    for column in ("agent", "state", "peer MiB", "CDN MiB", "seconds", "verified", "note"):
        table.add_column(column)
    for agent in result.agents:
        table.add_row(
            agent.user,
            agent.state,
            f"{agent.peer_bytes / MIB:.1f}",
            f"{agent.cdn_bytes / MIB:.1f}",
            f"{agent.seconds:.1f}",
            "yes" if agent.verified else "no",
            agent.error or "",
        )
    return table


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run a whole network on loopback and install a game")
    demo.add_argument("--size-mib", type=int, default=64, help="sample game size (64 MiB)")
    demo.add_argument("--cdn-mib-s", type=float, default=12.0, help="CDN node bandwidth cap")
    demo.add_argument("--dir", type=Path, help="keep all state here instead of a temp dir")
    demo.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace, config: Config) -> int:
    if args.size_mib < 1 or args.cdn_mib_s <= 0:
        print("peerpipe demo: --size-mib must be >= 1 and --cdn-mib-s > 0", file=sys.stderr)
        return 2
    root = args.dir or Path(tempfile.mkdtemp(prefix="peerpipe-demo-"))
    console = Console(stderr=True)
    options = ScenarioOptions(
        root=root, game_bytes=args.size_mib * MIB, cdn_rate_limit=int(args.cdn_mib_s * MIB)
    )
    try:
        result = asyncio.run(run_scenario(options, console))
    except NetworkError as exc:
        print(f"peerpipe demo: {exc} (state and logs kept in {root})", file=sys.stderr)
        return 1
    Console().print(render_table(result))
    print(json.dumps(result.summary()))
    if not _succeeded(result):
        print(f"peerpipe demo: not every owner verified (logs in {root})", file=sys.stderr)
        return 1
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _succeeded(result: ScenarioResult) -> bool:
    owners = [agent for agent in result.agents if agent.user in OWNERS]
    return all(agent.verified for agent in owners) and len(result.refused) == len(NON_OWNERS)


__all__ = ["AgentOutcome", "ScenarioOptions", "ScenarioResult", "run_scenario"]
