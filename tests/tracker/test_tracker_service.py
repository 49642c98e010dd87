"""The tracker over HTTP on loopback, with the library's access endpoint as a real HTTP server."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote_from_bytes

import aiohttp
import pytest
import yarl
from tracker_loopback import (
    NOT_OWNER,
    OTHER_OWNER,
    OWNER,
    Library,
    StartTracker,
    admin_headers,
    announce,
    compact_ports,
    info_hash,
    register_swarm,
)

from peerpipe.tokens import Role
from tracker import decode

GAME_HASH = info_hash("game-1 release 1")

pytestmark = pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)


async def test_owners_get_each_other_and_never_themselves(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    first = await announce(http, tracker.url, OWNER, GAME_HASH, peer=1, port=7001, event="started")
    assert compact_ports(first) == set()
    assert first[b"interval"] == 1800 and first[b"min interval"] == 60
    second = await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, peer=2, port=7002)
    assert compact_ports(second) == {7001}
    assert second[b"peers"][:4] == bytes([127, 0, 0, 1])  # type: ignore[index]
    again = await announce(http, tracker.url, OWNER, GAME_HASH, peer=1, port=7001)
    assert compact_ports(again) == {7002}
    assert (again[b"complete"], again[b"incomplete"]) == (0, 2)


async def test_non_compact_reply_lists_peer_dicts(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, peer=1, port=7001)
    reply = await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, peer=2, compact="0")
    assert reply[b"peers"] == [
        {b"ip": b"127.0.0.1", b"peer id": b"-PP0001-000000000001", b"port": 7001}
    ]


async def test_refusals_are_bencoded_failure_reasons(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, peer=1)
    not_owner = await announce(http, tracker.url, NOT_OWNER, GAME_HASH, peer=3)
    assert not_owner == {b"failure reason": b"access denied: game not in library"}
    unknown = await announce(http, tracker.url, "f" * 32, GAME_HASH, peer=4)
    assert unknown == {b"failure reason": b"access denied: unknown passkey"}
    unregistered = await announce(http, tracker.url, OWNER, info_hash("nothing"), peer=1)
    assert unregistered == {b"failure reason": b"info_hash is not registered with this tracker"}
    malformed = await announce(http, tracker.url, OWNER, GAME_HASH[:19], peer=1)
    assert malformed == {b"failure reason": b"info_hash must be exactly 20 bytes, got 19"}
    bad_passkey = await announce(http, tracker.url, "not%20a%20passkey", GAME_HASH, peer=1)
    assert bad_passkey == {b"failure reason": b"malformed passkey in the announce URL"}
    async with http.get(f"{tracker.url}/announce?info_hash=x") as response:
        assert response.status == 200
        assert decode(await response.read()) == {
            b"failure reason": b"this is a private tracker: announce to /<your passkey>/announce"
        }


async def test_silent_peers_drop_out_after_two_intervals(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker(announce_interval=1, min_announce_interval=1)
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, peer=1, port=7001)
    first = await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, peer=2, port=7002)
    assert compact_ports(first) == {7001}
    deadline = time.monotonic() + 10
    while compact_ports(await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, 2, 7002)):
        assert time.monotonic() < deadline, "the silent peer never expired"
        await asyncio.sleep(0.1)


async def test_library_outage_keeps_cached_answers_and_refuses_unknown(
    start_tracker: StartTracker, library: Library, http: aiohttp.ClientSession
) -> None:
    # With no time-to-live every announce asks the library, so the outage is noticed at once.
    tracker = await start_tracker(access_cache_ttl=0)
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    assert b"peers" in await announce(http, tracker.url, OWNER, GAME_HASH, peer=1)
    calls = library.calls
    await library.stop()
    cached = await announce(http, tracker.url, OWNER, GAME_HASH, peer=1)
    assert b"peers" in cached, cached
    unknown = await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, peer=2)
    reason = unknown[b"failure reason"]
    assert isinstance(reason, bytes) and reason.startswith(b"access denied: cannot verify access")
    assert library.calls == calls
    async with http.get(f"{tracker.url}/health") as response:
        assert response.status == 200


async def test_access_answers_are_cached(
    start_tracker: StartTracker, library: Library, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await asyncio.gather(
        *(announce(http, tracker.url, OWNER, GAME_HASH, peer=n) for n in range(1, 11))
    )
    assert library.calls == 1


async def test_scrape_reports_registered_swarms_only(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, peer=1, left=0)
    await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, peer=2)

    async def scrape(passkey: str, *hashes: bytes) -> object:
        query = "&".join(f"info_hash={quote_from_bytes(h, safe='')}" for h in hashes)
        url = yarl.URL(f"{tracker.url}/{passkey}/scrape?{query}", encoded=True)
        async with http.get(url) as response:
            assert response.status == 200
            return decode(await response.read())

    assert await scrape(OWNER, GAME_HASH, info_hash("other")) == {
        b"files": {GAME_HASH: {b"complete": 1, b"downloaded": 0, b"incomplete": 1}}
    }
    assert await scrape(OWNER) == {
        b"failure reason": b"scrape must name at least one info_hash; scraping all is refused"
    }
    assert await scrape(NOT_OWNER, GAME_HASH) == {
        b"failure reason": b"access denied: game not in library"
    }


async def test_admin_api_registers_lists_and_removes_swarms(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    swarms = f"{tracker.url}/api/v1/admin/swarms"
    v2 = bytes(range(32))
    body = {
        "game_id": "game-1",
        "release": 2,
        "info_hash_v1": GAME_HASH.hex(),
        "info_hash_v2": v2.hex(),
    }
    async with http.post(swarms, json=body) as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"
    async with http.post(swarms, json=body, headers=admin_headers(Role.USER)) as response:
        assert response.status == 403
    async with http.post(
        swarms, json={**body, "info_hash_v1": "xyz"}, headers=admin_headers()
    ) as response:
        assert response.status == 400
        assert "info_hash_v1" in (await response.json())["detail"]
    for _ in range(2):  # registering again is harmless
        async with http.post(swarms, json=body, headers=admin_headers(Role.SERVICE)) as response:
            assert response.status == 201
    async with http.post(
        swarms, json={**body, "game_id": "game-9"}, headers=admin_headers()
    ) as response:
        assert response.status == 409

    # v2 clients announce the SHA-256 info-hash truncated to 20 bytes.
    assert b"peers" in await announce(http, tracker.url, OWNER, v2[:20], peer=1)
    async with http.get(swarms, headers=admin_headers()) as response:
        listed = (await response.json())["items"]
    assert [(s["game_id"], s["release"], s["info_hash_v2"]) for s in listed] == [
        ("game-1", 2, v2.hex())
    ]
    assert listed[0]["stats"][v2[:20].hex()]["incomplete"] == 1

    async with http.delete(f"{swarms}/nothex", headers=admin_headers()) as response:
        assert response.status == 400
    async with http.delete(f"{swarms}/{GAME_HASH.hex()}", headers=admin_headers()) as response:
        assert response.status == 204
    async with http.delete(f"{swarms}/{GAME_HASH.hex()}", headers=admin_headers()) as response:
        assert response.status == 404
    gone = await announce(http, tracker.url, OWNER, v2[:20], peer=1)
    assert gone == {b"failure reason": b"info_hash is not registered with this tracker"}


async def test_health_and_metrics(start_tracker: StartTracker, http: aiohttp.ClientSession) -> None:
    tracker = await start_tracker()
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, peer=1)
    await announce(http, tracker.url, NOT_OWNER, GAME_HASH, peer=2)
    async with http.get(f"{tracker.url}/health") as response:
        assert await response.json() == {"status": "ok", "swarms": 1, "peers": 1}
    async with http.get(f"{tracker.url}/metrics") as response:
        text = await response.text()
    assert 'tracker_announces_total{result="ok",transport="http"} 1.0' in text
    assert 'tracker_announces_total{result="refused",transport="http"} 1.0' in text
    assert "tracker_swarms 1.0" in text and "tracker_peers 1.0" in text
    assert "tracker_announce_seconds_count 2.0" in text
