"""The peer agent against aria2c and against a CDN-only install, on a real loopback network.

1. One agent installs a release from one CDN node (verification included: piece hashes and
   the file check against the signed manifest); aria2c -x8 fetches the same files from the
   same node in the same run.
2. Six agents start together on one release, the CDN node capped: CDN bytes over the release
   size, and the time until all six finish over the time a CDN-only install of six would
   take at the cap (six releases through the capped node).

Every service is a real ``peerpipe`` process (library, tracker, seeder, agents). The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peerpipe.network import AgentHandle, LocalNetwork, NetworkError, request_json, wait_healthy
from peerpipe.sample_game import generate_sample_game
from peerpipe.tokens import Role, mint_token

MB = 1_000_000
MIB = 1024 * 1024
SOLO = "bench-solo"
SWARM = "bench-swarm"
PUBLISHER = "bench-studio"
ARIA2C = "/usr/bin/aria2c"


@dataclass(frozen=True)
class Plan:
    install_mib: int
    swarm_mib: int
    swarm_agents: int
    cdn_cap: int  # bytes/s of the CDN node in the swarm scenario


FULL = Plan(install_mib=512, swarm_mib=256, swarm_agents=6, cdn_cap=20 * MB)
QUICK = Plan(install_mib=96, swarm_mib=32, swarm_agents=6, cdn_cap=20 * MB)


async def publish(network: LocalNetwork, root: Path, sizes: dict[str, int]) -> dict[str, Path]:
    """One trust root, one publisher, one release per game of ``sizes``; the build folders."""
    keys = root / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    root_key, publisher_key = keys / "root.pem", keys / "publisher.pem"
    await asyncio.gather(
        network.run_cli("admin", "keys", "generate", "--out", str(root_key)),
        network.run_cli("admin", "keys", "generate", "--out", str(publisher_key)),
    )
    await network.run_cli("admin", "trust", "init", "--root-key", str(root_key))
    await network.run_cli(
        "admin", "trust", "add-publisher", PUBLISHER, "--key", f"{publisher_key}.pub",
        "--games", ",".join(sizes), "--admin-key", str(root_key),
    )  # fmt: skip
    builds = {}
    for game, size in sizes.items():
        build = root / "builds" / game
        await asyncio.to_thread(generate_sample_game, build, size)
        await network.run_cli(
            "publish", str(build), "--game", game, "--version", "1.0.0",
            "--key", str(publisher_key), "--title", game,
        )  # fmt: skip
        builds[game] = build
    return builds


async def grant(network: LocalNetwork, game: str, users: list[str]) -> None:
    """Ownership through the library's internal API (one CLI process per user is slow)."""
    token = mint_token(network.platform_key, "bench", Role.SERVICE)
    url = f"{network.library_url}/api/v1/library/internal/ownership"
    async with aiohttp.ClientSession() as session:
        for user in users:
            body = {"user_id": user, "game_id": game, "acquisition_type": "purchase"}
            status, answer = await request_json(session, "POST", url, token, body)
            if status not in (200, 201):
                raise NetworkError(f"grant to {user} refused: {answer}")


async def install(session: aiohttp.ClientSession, agent: AgentHandle, game: str) -> dict[str, Any]:
    """Install ``game`` on ``agent`` and wait until it is installed; the final download."""
    token = agent.api_token()
    status, body = await request_json(
        session, "POST", f"{agent.url}/api/v1/downloads", token, {"game_id": game}
    )
    if status != 202:
        raise NetworkError(f"{agent.user}: install refused: {body}")
    url = f"{agent.url}/api/v1/downloads/{body['id']}"
    while body["state"] not in ("installed", "failed", "refused", "cancelled"):
        await asyncio.sleep(0.05)
        status, body = await request_json(session, "GET", url, token)
    if body["state"] != "installed" or not body["verified"]:
        raise NetworkError(f"{agent.user}: {body['state']}: {body['error']}")
    return dict(body)


def aria2c_fetch(build: Path, game: str, cdn_url: str, target: Path) -> float:
    """Seconds aria2c -x8 takes to fetch every release file from the CDN node."""
    files = sorted(
        path.relative_to(build).as_posix() for path in build.rglob("*") if path.is_file()
    )
    listing = target.parent / "aria2c-input.txt"
    lines = [f"{cdn_url}/files/{game}/1/{path}\n  out={path}\n" for path in files]
    listing.write_text("".join(lines))
    began = time.monotonic()
    subprocess.run(
        [ARIA2C, "-x8", "-s8", "-j4", "--allow-overwrite=true", "--file-allocation=none",
         "--console-log-level=error", "--summary-interval=0", "-d", str(target),
         "-i", str(listing)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.monotonic() - began


def release_size(build: Path) -> int:
    return sum(path.stat().st_size for path in build.rglob("*") if path.is_file())


def touch_memory(size: int) -> float:
    """Seconds to allocate, write and free ``size`` bytes of memory.

    On a virtual machine whose memory the host backs lazily, the first write to each page of
    guest memory costs the host a fault: writing 512 MiB into never-used page-cache pages
    took 0.78 s of CPU here, into pages freed earlier 0.16 s. Whichever contender wrote into
    fresh memory lost up to half a second to it (the agent, which ran second, always did).
    Both write into memory touched once here instead, which is what a machine in use has."""
    began = time.monotonic()
    bytearray(size)  # zero-filled: every page written once, then freed for the page cache
    return time.monotonic() - began


async def cdn_install(network: LocalNetwork, build: Path, root: Path) -> dict[str, float]:
    """Scenario 1: one agent against aria2c -x8, same node, same files."""
    size = release_size(build)
    # both contenders' files, and room for the agent's own allocations
    touch_seconds = await asyncio.to_thread(touch_memory, 2 * size + 256 * MIB)
    # each contender starts with no dirty pages of the one before (or of the publish) left
    # for the kernel to write back while it runs
    await asyncio.to_thread(os.sync)
    aria2c_seconds = await asyncio.to_thread(
        aria2c_fetch, build, SOLO, network.seeder_url, root / "aria2c"
    )
    await grant(network, SOLO, ["solo"])
    agent = await network.start_agent("solo")
    await asyncio.to_thread(os.sync)
    async with aiohttp.ClientSession() as session:
        began = time.monotonic()
        await install(session, agent, SOLO)
        seconds = time.monotonic() - began
    return {
        "install_bytes": size,
        "cdn_install_seconds": round(seconds, 2),
        "cdn_install_mb_s": round(size / seconds / MB, 1),
        "aria2c_seconds": round(aria2c_seconds, 2),
        "aria2c_mb_s": round(size / aria2c_seconds / MB, 1),
        "memory_touch_seconds": round(touch_seconds, 2),
    }


async def cap_cdn(network: LocalNetwork, cap: int) -> None:
    """Restart the CDN node with its bandwidth capped (same port, same origin) on an
    address of its own (127.0.0.2), as CDN nodes have: agents tell it from players by it."""
    seeder = next(service for service in network.services if service.name == "seeder")
    seeder.process.terminate()
    await seeder.process.wait()
    network.services.remove(seeder)
    port = network.seeder_url.rsplit(":", 1)[1]
    network.seeder_url = f"http://127.0.0.2:{port}"
    env = {
        "PEERPIPE_SEEDER_HOST": "127.0.0.2",
        "PEERPIPE_SEEDER_PORT": port,
        "PEERPIPE_SEEDER_BT_PORT": "0",  # the node picks one and tells agents in /health
        "PEERPIPE_SEEDER_HTTP_RATE_LIMIT": str(cap),
        "PEERPIPE_SEEDER_UPLOAD_RATE_LIMIT": str(cap),
    }
    capped = await network._spawn("seeder", ["seeder", "serve"], network.seeder_url, env)
    network.services.append(capped)
    await wait_healthy(capped)


async def swarm_install(network: LocalNetwork, build: Path, plan: Plan) -> dict[str, float]:
    """Scenario 2: six agents start together, the CDN node capped."""
    users = [f"player{index}" for index in range(plan.swarm_agents)]
    size = release_size(build)
    await grant(network, SWARM, users)
    await cap_cdn(network, plan.cdn_cap)
    agents = await asyncio.gather(*(network.start_agent(user) for user in users))
    async with aiohttp.ClientSession() as session:
        began = time.monotonic()
        finals = await asyncio.gather(*(install(session, agent, SWARM) for agent in agents))
        seconds = time.monotonic() - began
    cdn_bytes = sum(int(final["cdn_bytes"]) for final in finals)
    peer_bytes = sum(int(final["peer_bytes"]) for final in finals)
    cdn_only_seconds = plan.swarm_agents * size / plan.cdn_cap
    return {
        "swarm_release_bytes": size,
        "swarm_agents": plan.swarm_agents,
        "swarm_cdn_cap_mb_s": plan.cdn_cap / MB,
        "swarm_seconds": round(seconds, 2),
        "swarm_cdn_bytes": cdn_bytes,
        "swarm_peer_bytes": peer_bytes,
        "swarm_cdn_bytes_over_release": round(cdn_bytes / size, 3),
        "cdn_only_seconds_at_cap": round(cdn_only_seconds, 2),
        "swarm_time_over_cdn_only": round(seconds / cdn_only_seconds, 3),
    }


async def main(plan: Plan, root: Path) -> dict[str, Any]:
    network = LocalNetwork(root)
    try:
        await network.start()
        sizes = {SOLO: plan.install_mib * MIB, SWARM: plan.swarm_mib * MIB}
        builds = await publish(network, root, sizes)
        first = await cdn_install(network, builds[SOLO], root)
        print(json.dumps(first), file=sys.stderr)
        second = await swarm_install(network, builds[SWARM], plan)
        print(json.dumps(second), file=sys.stderr)
    finally:
        await network.stop()
    result: dict[str, Any] = {**first, **second}
    result["ratio_vs_aria2c"] = round(first["cdn_install_mb_s"] / first["aria2c_mb_s"], 3)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller releases (< 1 minute)")
    parser.add_argument("--dir", type=Path, help="keep state and logs here")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="peerpipe-bench-agent-"))
    try:
        figures = asyncio.run(main(QUICK if args.quick else FULL, root))
    except NetworkError as exc:
        print(f"bench/agent.py: {exc} (logs in {root})", file=sys.stderr)
        sys.exit(1)
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"bench": "agent", "quick": args.quick, **figures}))
