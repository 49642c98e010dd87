"""The UDP tracker (BEP 15, passkey as BEP 41 URL data): packets, connection ids, loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tracker_loopback import NOT_OWNER, OTHER_OWNER, OWNER, StartTracker, info_hash, register_swarm

from peerpipe.service import free_port
from tracker import Announce, AnnounceReply, Event, Peer, PeerList, SwarmStats
from tracker.udp_protocol import (
    AnnounceRequest,
    ConnectRequest,
    ScrapeRequest,
    UdpRequestError,
    connection_id,
    connection_valid,
    encode_announce_reply,
    encode_announce_request,
    encode_connect_request,
    encode_error,
    encode_scrape_request,
    parse_request,
)

GAME_HASH = info_hash("game-1 udp")
SECRET = b"s" * 32

announces = st.builds(
    Announce,
    info_hash=st.binary(min_size=20, max_size=20),
    peer_id=st.binary(min_size=20, max_size=20),
    port=st.integers(1, 65535),
    uploaded=st.integers(0, 2**63 - 1),
    downloaded=st.integers(0, 2**63 - 1),
    left=st.integers(0, 2**63 - 1),
    event=st.sampled_from(list(Event)),
    compact=st.just(True),
    numwant=st.integers(0, 200),
    key=st.binary(min_size=4, max_size=4),
    # Fields a UDP announce does not carry.
    no_peer_id=st.just(False),
    ip=st.none(),
)


@given(announces, st.integers(0, 2**32 - 1), st.binary(max_size=600))
def test_announce_requests_parse_back(announce: Announce, txid: int, url_data: bytes) -> None:
    packet = encode_announce_request(b"c" * 8, txid, announce, url_data)
    request = parse_request(packet, max_numwant=200)
    assert request == AnnounceRequest(b"c" * 8, txid, announce, url_data)


@given(st.binary(max_size=200))
def test_arbitrary_datagrams_fail_only_with_a_request_error(data: bytes) -> None:
    with contextlib.suppress(UdpRequestError):
        parse_request(data, max_numwant=50)


def test_passkey_comes_from_url_data_split_over_options() -> None:
    announce = Announce(GAME_HASH, b"p" * 20, 6881, 0, 0, 5, Event.STARTED, True, 50)
    packet = encode_announce_request(b"c" * 8, 7, announce)
    # URLData in two options with a NOP between, then EndOfOptions and trailing junk.
    packet += b"\x02\x05/abcd\x01\x02\x0ce12/announce\x00junk"
    request = parse_request(packet, max_numwant=50)
    assert isinstance(request, AnnounceRequest)
    assert request.passkey == "abcde12"


@pytest.mark.parametrize(
    ("packet", "complaint"),
    [
        (b"\x00" * 10, "too short"),
        (struct.pack("!QII", 1, 0, 5), "protocol id"),
        (struct.pack("!QII", 1, 9, 5), "unknown action 9"),
        (struct.pack("!QII", 1, 1, 5) + b"\x00" * 10, "at least 98 bytes"),
        (struct.pack("!QII", 1, 2, 5) + b"\x00" * 19, "whole 20-byte"),
        (struct.pack("!QII", 1, 2, 5) + b"\x00" * 20 * 75, "at most 74"),
    ],
)
def test_bad_datagrams_are_named(packet: bytes, complaint: str) -> None:
    with pytest.raises(UdpRequestError, match=complaint):
        parse_request(packet, max_numwant=50)


def test_bad_announce_fields_are_refused() -> None:
    announce = Announce(GAME_HASH, b"p" * 20, 6881, 0, 0, 5, Event.EMPTY, True, 50)
    good = encode_announce_request(b"c" * 8, 7, announce)
    negative_left = good[:64] + struct.pack("!q", -1) + good[72:]
    with pytest.raises(UdpRequestError, match="must not be negative") as caught:
        parse_request(negative_left, 50)
    assert caught.value.transaction_id == 7
    bad_event = good[:80] + struct.pack("!I", 9) + good[84:]
    with pytest.raises(UdpRequestError, match="unknown event 9"):
        parse_request(bad_event, 50)
    no_port = good[:96] + b"\x00\x00"
    with pytest.raises(UdpRequestError, match="port"):
        parse_request(no_port, 50)
    option_overrun = good + b"\x02\x10/short"
    with pytest.raises(UdpRequestError, match="past the end"):
        parse_request(option_overrun, 50)


def test_connection_ids_expire_after_two_minutes_and_bind_the_address() -> None:
    issued = connection_id(SECRET, 1_000_000, "10.0.0.1")
    assert connection_valid(SECRET, issued, 1_000_000 + 120, "10.0.0.1")
    assert not connection_valid(SECRET, issued, 1_000_000 + 121, "10.0.0.1")
    assert not connection_valid(SECRET, issued, 1_000_000, "10.0.0.2")
    assert not connection_valid(b"x" * 32, issued, 1_000_000, "10.0.0.1")
    assert not connection_valid(SECRET, issued, 1_000_000 - 5, "10.0.0.1")


def test_reply_carries_peers_of_the_requests_family() -> None:
    peers = (Peer(b"a" * 20, "10.0.0.1", 80), Peer(b"b" * 20, "2001:db8::1", 81))
    reply = AnnounceReply(1800, 60, SwarmStats(complete=3, incomplete=4), PeerList.of(peers))
    v4 = encode_announce_reply(9, reply, ipv6=False)
    assert v4 == struct.pack("!IIIII", 1, 9, 1800, 4, 3) + bytes([10, 0, 0, 1, 0, 80])
    v6 = encode_announce_reply(9, reply, ipv6=True)
    assert v6[20:] == socket.inet_pton(socket.AF_INET6, "2001:db8::1") + b"\x00\x51"
    assert encode_error(9, "no") == struct.pack("!II", 3, 9) + b"no"


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.replies.put_nowait(data)


@pytest.fixture
async def udp_tracker(
    start_tracker: StartTracker, http: aiohttp.ClientSession
) -> AsyncIterator[tuple[asyncio.DatagramTransport, UdpClient]]:
    port = free_port(kind=socket.SOCK_DGRAM)
    tracker = await start_tracker(udp_port=port)
    await register_swarm(http, tracker.url, "game-1", GAME_HASH)
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        UdpClient, remote_addr=("127.0.0.1", port)
    )
    yield transport, client
    transport.close()


async def ask(udp: tuple[asyncio.DatagramTransport, UdpClient], packet: bytes) -> bytes:
    transport, client = udp
    transport.sendto(packet)
    return await asyncio.wait_for(client.replies.get(), 5)


async def connect(udp: tuple[asyncio.DatagramTransport, UdpClient]) -> bytes:
    reply = await ask(udp, encode_connect_request(41))
    assert reply[:8] == struct.pack("!II", 0, 41)
    return reply[8:16]


def arrival(n: int, event: Event = Event.STARTED) -> Announce:
    return Announce(GAME_HASH, bytes([n]) * 20, 7000 + n, 0, 0, 100, event, True, 50)


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_owners_announce_over_udp_and_get_each_other(
    udp_tracker: tuple[asyncio.DatagramTransport, UdpClient],
) -> None:
    connection = await connect(udp_tracker)
    first = await ask(
        udp_tracker,
        encode_announce_request(connection, 1, arrival(1), f"/{OWNER}/announce".encode()),
    )
    assert struct.unpack("!IIIII", first) == (1, 1, 1800, 1, 0)
    second = await ask(
        udp_tracker,
        encode_announce_request(connection, 2, arrival(2), f"/{OTHER_OWNER}/announce".encode()),
    )
    assert struct.unpack("!IIIII", second[:20]) == (1, 2, 1800, 2, 0)
    assert second[20:] == bytes([127, 0, 0, 1]) + struct.pack("!H", 7001)


async def test_udp_refusals_are_error_packets_with_a_reason(
    udp_tracker: tuple[asyncio.DatagramTransport, UdpClient],
) -> None:
    connection = await connect(udp_tracker)

    async def error_for(packet: bytes) -> bytes:
        reply = await ask(udp_tracker, packet)
        assert reply[:4] == struct.pack("!I", 3), reply
        return reply[8:]

    url = f"/{NOT_OWNER}/announce".encode()
    assert await error_for(encode_announce_request(connection, 3, arrival(3), url)) == (
        b"access denied: game not in library"
    )
    assert b"private tracker" in await error_for(encode_announce_request(connection, 4, arrival(4)))
    stale = b"\x00" * 8
    owner_url = f"/{OWNER}/announce".encode()
    assert b"connect again" in await error_for(
        encode_announce_request(stale, 5, arrival(5), owner_url)
    )
    assert b"scrape over HTTP" in await error_for(
        encode_scrape_request(connection, 6, (GAME_HASH,))
    )
    assert b"unknown action" in await error_for(struct.pack("!QII", 0, 7, 8))
    transport, client = udp_tracker
    transport.sendto(b"\x00")  # too short to carry a transaction id: no answer at all
    assert isinstance(parse_request(encode_connect_request(1), 50), ConnectRequest)
    assert isinstance(
        parse_request(encode_scrape_request(b"c" * 8, 1, (GAME_HASH,)), 50), ScrapeRequest
    )
    assert client.replies.empty()
