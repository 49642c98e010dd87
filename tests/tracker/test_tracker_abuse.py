"""Bad input and abuse over HTTP: each gets a clear reason, never a 500, never a crash."""

from __future__ import annotations

import aiohttp
import pytest
import yarl
from tracker_loopback import OTHER_OWNER, OWNER, StartTracker, announce, info_hash, register_swarm

from tracker import TrackerOptions, decode

GAME_HASH = info_hash("game-1 abuse")


def reason(reply: dict[bytes, object]) -> str:
    found = reply.get(b"failure reason")
    assert isinstance(found, bytes), reply
    return found.decode()


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ({"info_hash": "%00" * 19}, "info_hash must be exactly 20 bytes, got 19"),
        ({"peer_id": "short"}, "peer_id must be exactly 20 bytes"),
        ({"port": "http"}, "port must be a non-negative whole number"),
        ({"port": "70000"}, "port must be at most 65535"),
        ({"left": "-5"}, "left must be a non-negative whole number"),
        ({"uploaded": "9" * 19 + "0"}, "uploaded must be at most"),
        ({"numwant": "1" * 40}, "numwant must be a non-negative whole number"),
        ({"ip": "not-an-address"}, "ip must be an IPv4 or IPv6 address"),
        ({"event": "exploded"}, "event must be started, completed, stopped or empty"),
    ],
)
async def test_malformed_announces_get_a_reason(
    start_tracker: StartTracker,
    http: aiohttp.ClientSession,
    extra: dict[str, str],
    complaint: str,
) -> None:
    tracker = await start_tracker()
    assert complaint in reason(await announce(http, tracker.url, OWNER, GAME_HASH, 1, **extra))


async def test_missing_and_duplicate_parameters(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    url = yarl.URL(f"{tracker.url}/{OWNER}/announce?port=1&port=2", encoded=True)
    async with http.get(url) as response:
        assert reason(decode(await response.read())) == "parameter 'port' is given more than once"  # type: ignore[arg-type]
    url = yarl.URL(f"{tracker.url}/{OWNER}/announce?port=1", encoded=True)
    async with http.get(url) as response:
        assert "missing required parameter" in reason(decode(await response.read()))  # type: ignore[arg-type]
    async with http.get(f"{tracker.url}/bad%20passkey!/announce") as response:
        assert reason(decode(await response.read())) == "malformed passkey in the announce URL"  # type: ignore[arg-type]


async def test_oversized_urls_and_headers_are_refused_by_the_parser(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    long_url = yarl.URL(f"{tracker.url}/{OWNER}/announce?x={'a' * 5000}", encoded=True)
    async with http.get(long_url) as response:
        reply = decode(await response.read())
        assert reason(reply) == "query string is longer than 4096 bytes"  # type: ignore[arg-type]
    longer_url = yarl.URL(f"{tracker.url}/{OWNER}/announce?x={'a' * 10_000}", encoded=True)
    async with http.get(longer_url) as response:
        assert response.status == 414
        assert reason(decode(await response.read())) == "request line is longer than 8190 bytes"  # type: ignore[arg-type]
    async with http.get(f"{tracker.url}/health", headers={"X-Big": "b" * 10_000}) as response:
        assert response.status in (400, 431)
    many = {f"X-H{i}": "1" for i in range(100)}
    async with http.get(f"{tracker.url}/health", headers=many) as response:
        assert response.status in (400, 431)
    async with http.get(f"{tracker.url}/health") as response:
        assert response.status == 200


async def test_ip_parameter_is_honoured_only_from_trusted_proxies(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    untrusting = await start_tracker()
    await register_swarm(http, untrusting.url, "game-1", GAME_HASH)
    await announce(http, untrusting.url, OWNER, GAME_HASH, 1, ip="10.9.9.9")
    reply = await announce(http, untrusting.url, OTHER_OWNER, GAME_HASH, 2)
    assert reply[b"peers"] == bytes([127, 0, 0, 1]) + (6881).to_bytes(2, "big")

    trusting = await start_tracker(trusted_proxies=("127.0.0.0/8",))
    await register_swarm(http, trusting.url, "game-1", GAME_HASH)
    await announce(http, trusting.url, OWNER, GAME_HASH, 1, ip="10.9.9.9")
    query = "&".join(
        f"{k}={v}"
        for k, v in {
            "info_hash": "".join(f"%{b:02x}" for b in GAME_HASH),
            "peer_id": "-PP0001-000000000003",
            "port": "7003",
            "uploaded": "0",
            "downloaded": "0",
            "left": "5",
        }.items()
    )
    url = yarl.URL(f"{trusting.url}/{OWNER}/announce?{query}", encoded=True)
    async with http.get(url, headers={"X-Forwarded-For": "198.51.100.1, 10.7.7.7"}):
        pass
    reply = await announce(http, trusting.url, OTHER_OWNER, GAME_HASH, 2, numwant="10")
    peers = reply[b"peers"]
    assert isinstance(peers, bytes)
    addresses = {peers[i : i + 4] for i in range(0, len(peers), 6)}
    assert addresses == {bytes([10, 9, 9, 9]), bytes([10, 7, 7, 7])}


async def test_floods_are_limited_per_passkey_and_per_address(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    options = TrackerOptions(passkey_requests_per_window=3, ip_requests_per_window=5)
    tracker = await start_tracker(options)
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    for n in range(3):
        assert b"peers" in await announce(http, tracker.url, OWNER, GAME_HASH, n)
    refused = reason(await announce(http, tracker.url, OWNER, GAME_HASH, 1))
    assert refused.startswith("rate limited: more than 3 requests for this passkey")
    assert b"peers" in await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, 5)
    refused = reason(await announce(http, tracker.url, OTHER_OWNER, GAME_HASH, 5))
    assert refused.startswith("rate limited: more than 5 requests from your address")


async def test_peers_held_are_bounded(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker(TrackerOptions(max_peers=2, max_peers_per_swarm=2))
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    await announce(http, tracker.url, OWNER, GAME_HASH, 1)
    await announce(http, tracker.url, OWNER, GAME_HASH, 2)
    assert "full" in reason(await announce(http, tracker.url, OWNER, GAME_HASH, 3))


async def test_scraping_everything_is_refused(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> None:
    tracker = await start_tracker()
    async with http.get(f"{tracker.url}/{OWNER}/scrape") as response:
        assert response.status == 200
        assert "scraping all is refused" in reason(decode(await response.read()))  # type: ignore[arg-type]
