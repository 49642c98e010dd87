"""The admin API and ``peerpipe admin swarms``: swarm reports, peers, bans, unregistering."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace

import aiohttp
import pytest
from tracker_loopback import (
    NOT_OWNER,
    OTHER_OWNER,
    OWNER,
    PLATFORM_KEY,
    StartTracker,
    admin_headers,
    announce,
    info_hash,
    peer_id,
    register_swarm,
)

from peerpipe.config import Config, TrackerConfig
from tracker.commands import register_admin

GAME_HASH = info_hash("game-1 admin")

pytestmark = pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)


async def test_swarm_reports_and_peers(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, 1, port=7001, left=0, uploaded="500")
    await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, 2, port=7002, downloaded="300")
    await announce(
        http,
        tracker.url,
        OTHER_OWNER,
        GAME_HASH,
        2,
        7002,
        left=0,
        event="completed",
        downloaded="800",
    )
    swarms = f"{tracker.url}/api/v1/admin/swarms"
    async with http.get(swarms, headers=admin_headers()) as response:
        (swarm,) = (await response.json())["items"]
    assert (swarm["seeders"], swarm["leechers"], swarm["completed"]) == (2, 0, 1)
    assert (swarm["bytes_uploaded"], swarm["bytes_downloaded"]) == (500, 800)
    async with http.get(f"{swarms}/{GAME_HASH.hex()}", headers=admin_headers()) as response:
        shown = await response.json()
    assert sorted((p["peer_id"], p["port"], p["seeder"]) for p in shown["peers"]) == [
        (peer_id(1).hex(), 7001, True),
        (peer_id(2).hex(), 7002, True),
    ]
    async with http.get(f"{swarms}/{'0' * 40}", headers=admin_headers()) as response:
        assert response.status == 404


async def test_bans_refuse_passkeys_peers_and_ranges(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    bans = f"{tracker.url}/api/v1/admin/bans"

    async def ban(kind: str, value: str) -> int:
        body = {"kind": kind, "value": value, "reason": "test"}
        async with http.post(bans, json=body, headers=admin_headers()) as response:
            return response.status

    assert await ban("ip_range", "not-a-network") == 400
    assert await ban("peer", "xyz") == 400
    assert await ban("passkey", OWNER) == 201
    reply = await announce(http, tracker.url, OWNER, GAME_HASH, 1)
    assert reply == {b"failure reason": b"banned: this passkey is banned"}
    assert await ban("peer", peer_id(2).hex()) == 201
    reply = await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, 2)
    assert reply == {b"failure reason": b"banned: this peer is banned"}
    assert b"peers" in await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, 3)
    assert await ban("ip_range", "127.0.0.0/8") == 201
    reply = await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, 3)
    assert reply == {b"failure reason": b"banned: your IP address is in a banned range"}
    async with http.get(bans, headers=admin_headers()) as response:
        assert len((await response.json())["items"]) == 3


def run_admin(tracker_url: str, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="peerpipe admin")
    register_admin(parser.add_subparsers(dest="admin_command", required=True))
    args = parser.parse_args(list(argv))
    config = Config(
        platform_key=PLATFORM_KEY, tracker=replace(TrackerConfig(), public_url=tracker_url)
    )
    return int(args.handler(args, config))


async def test_admin_swarms_commands(
    start_tracker: StartTracker,
    http: aiohttp.ClientSession,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, 1, port=7001)

    async def admin(*argv: str) -> int:
        return await asyncio.to_thread(run_admin, tracker.url, "swarms", *argv)

    assert await admin("list") == 0
    listed = capsys.readouterr().out
    assert GAME_HASH.hex() in listed and "game-1" in listed
    assert await admin("show", GAME_HASH.hex()) == 0
    assert "127.0.0.1:7001" in capsys.readouterr().out
    assert await admin("ban", "--passkey", NOT_OWNER, "--reason", "shared") == 0
    assert f"banned passkey {NOT_OWNER}" in capsys.readouterr().out
    assert await admin("ban", "--ip-range", "bogus") == 1
    assert "not an IP range" in capsys.readouterr().err
    assert await admin("unregister", GAME_HASH.hex()) == 0
    assert await admin("unregister", GAME_HASH.hex()) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert await asyncio.to_thread(run_admin, "http://127.0.0.1:1", "swarms", "list") == 1
    assert "cannot reach the tracker" in capsys.readouterr().err
