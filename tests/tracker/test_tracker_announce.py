"""Announce and scrape parsing from raw query bytes, and reply encoding (BEP 3/7/23/48)."""

from __future__ import annotations

import contextlib
import ipaddress
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker import (
    AnnounceError,
    AnnounceReply,
    Event,
    Peer,
    SwarmStats,
    decode,
    encode_announce_reply,
    encode_failure,
    encode_scrape_reply,
    parse_announce,
    parse_scrape,
)
from tracker.announce import PeerList, percent_decoded

HASH = bytes(range(20))
PEER = b"-LT2110-\x00\xff%&=+ abcdefg"[:20]


def query(**params: bytes | str) -> str:
    parts = []
    for name, value in params.items():
        raw = value.encode() if isinstance(value, str) else value
        parts.append(f"{name}={quote_from_bytes(raw, safe='')}")
    return "&".join(parts)


def base(**overrides: bytes | str) -> dict[str, bytes | str]:
    params: dict[str, bytes | str] = {
        "info_hash": HASH,
        "peer_id": PEER,
        "port": "6881",
        "uploaded": "0",
        "downloaded": "0",
        "left": "1000",
    }
    params.update(overrides)
    return params


counters = st.integers(min_value=0, max_value=2**63 - 1)


@given(
    info_hash=st.binary(min_size=20, max_size=20),
    peer_id=st.binary(min_size=20, max_size=20),
    port=st.integers(min_value=1, max_value=65535),
    uploaded=counters,
    downloaded=counters,
    left=counters,
    event=st.sampled_from(["", "started", "completed", "stopped"]),
    compact=st.booleans(),
    numwant=st.integers(min_value=0, max_value=10_000),
    safe=st.sampled_from(["", "-._~", "abcdefghijklmnopqrstuvwxyz0123456789"]),
)
def test_every_valid_announce_parses_back(
    info_hash: bytes,
    peer_id: bytes,
    port: int,
    uploaded: int,
    downloaded: int,
    left: int,
    event: str,
    compact: bool,
    numwant: int,
    safe: str,
) -> None:
    raw = (
        f"info_hash={quote_from_bytes(info_hash, safe=safe)}"
        f"&peer_id={quote_from_bytes(peer_id, safe=safe)}&port={port}&uploaded={uploaded}"
        f"&downloaded={downloaded}&left={left}&event={event}&compact={int(compact)}"
        f"&numwant={numwant}&supportcrypto=1&key=abcd"
    )
    announce = parse_announce(raw, max_numwant=200)
    assert announce.info_hash == info_hash
    assert announce.peer_id == peer_id
    assert (announce.port, announce.uploaded, announce.downloaded, announce.left) == (
        port,
        uploaded,
        downloaded,
        left,
    )
    assert announce.event is Event(event)
    assert announce.compact is compact
    assert announce.numwant == min(numwant, 200)


@given(st.text(max_size=300))
def test_arbitrary_queries_fail_only_with_announce_error(raw: str) -> None:
    with contextlib.suppress(AnnounceError):
        parse_announce(raw, max_numwant=50)


def test_raw_bytes_are_accepted_as_the_query() -> None:
    announce = parse_announce(query(**base(event="empty")).encode(), max_numwant=50)
    assert announce.event is Event.EMPTY
    assert announce.compact is True
    assert announce.numwant == 50
    assert not announce.is_seeder


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"info_hash": HASH[:19]}, "info_hash must be exactly 20 bytes, got 19"),
        ({"info_hash": HASH + b"x"}, "info_hash must be exactly 20 bytes, got 21"),
        ({"peer_id": b"short"}, "peer_id must be exactly 20 bytes"),
        ({"port": "0"}, "port must be between 1 and 65535"),
        ({"port": "65536"}, "port must be at most 65535"),
        ({"port": "http"}, "port must be a non-negative whole number"),
        ({"left": "-1"}, "left must be a non-negative whole number"),
        ({"uploaded": str(2**63)}, "uploaded must be at most"),
        ({"downloaded": "1" * 30}, "downloaded must be a non-negative whole number"),
        ({"event": "paused"}, "event must be started, completed, stopped or empty"),
        ({"compact": "yes"}, "compact must be 0 or 1"),
        ({"numwant": "-5"}, "numwant must be a non-negative whole number"),
        ({"key": "k" * 65}, "key must be at most 64 bytes"),
    ],
)
def test_bad_announces_are_refused_with_a_reason(
    overrides: dict[str, bytes | str], complaint: str
) -> None:
    with pytest.raises(AnnounceError, match=complaint):
        parse_announce(query(**base(**overrides)), max_numwant=50)


@pytest.mark.parametrize(
    "missing", ["info_hash", "peer_id", "port", "uploaded", "downloaded", "left"]
)
def test_missing_parameters_are_named(missing: str) -> None:
    params = base()
    del params[missing]
    with pytest.raises(AnnounceError, match=f"missing required parameter '{missing}'"):
        parse_announce(query(**params), max_numwant=50)


def test_duplicate_parameters_are_refused() -> None:
    raw = query(**base()) + "&port=6882"
    with pytest.raises(AnnounceError, match="'port' is given more than once"):
        parse_announce(raw, max_numwant=50)


def test_oversized_queries_are_refused() -> None:
    with pytest.raises(AnnounceError, match="longer than"):
        parse_announce("a=" + "x" * 9000, max_numwant=50)
    with pytest.raises(AnnounceError, match="more than 100 parameters"):
        parse_announce("&".join(f"p{i}=1" for i in range(101)), max_numwant=50)


def test_plus_is_a_literal_byte_in_binary_values() -> None:
    raw = query(**base()).replace(
        f"info_hash={quote_from_bytes(HASH, safe='')}", "info_hash=" + "+" * 20
    )
    assert parse_announce(raw, max_numwant=50).info_hash == b"+" * 20


addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str),
)
peers = st.lists(
    st.builds(
        Peer,
        peer_id=st.binary(min_size=20, max_size=20),
        ip=addresses,
        port=st.integers(min_value=1, max_value=65535),
    ),
    max_size=30,
)


def reply_with(found: list[Peer]) -> AnnounceReply:
    return AnnounceReply(
        interval=1800, min_interval=60, stats=SwarmStats(3, 4, 5), peers=PeerList.of(found)
    )


@given(peers)
def test_compact_replies_carry_every_peer(found: list[Peer]) -> None:
    body = decode(encode_announce_reply(reply_with(found), compact=True))
    assert isinstance(body, dict)
    assert (body[b"interval"], body[b"min interval"]) == (1800, 60)
    assert (body[b"complete"], body[b"incomplete"]) == (3, 4)
    ipv4 = body[b"peers"]
    ipv6 = body.get(b"peers6", b"")
    assert isinstance(ipv4, bytes) and isinstance(ipv6, bytes)
    got = {
        (str(ipaddress.ip_address(ipv4[i : i + 4])), int.from_bytes(ipv4[i + 4 : i + 6], "big"))
        for i in range(0, len(ipv4), 6)
    } | {
        (str(ipaddress.ip_address(ipv6[i : i + 16])), int.from_bytes(ipv6[i + 16 : i + 18], "big"))
        for i in range(0, len(ipv6), 18)
    }
    assert got == {(str(ipaddress.ip_address(p.ip)), p.port) for p in found}
    assert len(ipv4) % 6 == 0 and len(ipv6) % 18 == 0


def test_ipv4_mapped_addresses_are_compacted_as_ipv4() -> None:
    found = [Peer(peer_id=b"p" * 20, ip="::ffff:10.0.0.1", port=80)]
    body = decode(encode_announce_reply(reply_with(found), compact=True))
    assert isinstance(body, dict)
    assert body[b"peers"] == bytes([10, 0, 0, 1, 0, 80])
    assert b"peers6" not in body


def test_non_compact_replies_list_peer_dicts() -> None:
    found = [Peer(b"x" * 20, "192.0.2.1", 6881), Peer(b"y" * 20, "2001:db8::1", 51413)]
    body = decode(encode_announce_reply(reply_with(found), compact=False))
    assert isinstance(body, dict)
    assert body[b"peers"] == [
        {b"ip": b"192.0.2.1", b"peer id": b"x" * 20, b"port": 6881},
        {b"ip": b"2001:db8::1", b"peer id": b"y" * 20, b"port": 51413},
    ]
    anonymous = decode(encode_announce_reply(reply_with(found), compact=False, no_peer_id=True))
    assert isinstance(anonymous, dict)
    assert anonymous[b"peers"] == [
        {b"ip": b"192.0.2.1", b"port": 6881},
        {b"ip": b"2001:db8::1", b"port": 51413},
    ]


def test_failure_is_a_bencoded_reason() -> None:
    assert encode_failure("access denied") == b"d14:failure reason13:access deniede"


def test_scrape_names_hashes_in_order_without_repeats() -> None:
    other = bytes(20)
    raw = f"info_hash={quote(HASH)}&info_hash={quote(other)}&info_hash={quote(HASH)}"
    assert parse_scrape(raw) == (HASH, other)


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("", "scraping all is refused"),
        ("foo=bar", "scraping all is refused"),
        (f"info_hash={quote(HASH[:10])}", "exactly 20 bytes"),
        ("&".join(f"info_hash={quote(bytes([i]) * 20)}" for i in range(65)), "at most 64"),
    ],
)
def test_bad_scrapes_are_refused(raw: str, complaint: str) -> None:
    with pytest.raises(AnnounceError, match=complaint):
        parse_scrape(raw)


def test_scrape_reply_shape() -> None:
    body = decode(encode_scrape_reply({HASH: SwarmStats(complete=2, incomplete=1, downloaded=7)}))
    assert body == {b"files": {HASH: {b"complete": 2, b"downloaded": 7, b"incomplete": 1}}}


@given(
    st.binary(max_size=40),
    st.sampled_from(["", "-._~", "abcdefghijklmnopqrstuvwxyz0123456789=%"]),
    st.booleans(),
    st.sampled_from(["", "%", "%z", "%zz", "=", " ", "%4", "\xff"]),
)
def test_percent_decoding_matches_rfc3986(raw: bytes, safe: str, lower: bool, junk: str) -> None:
    quoted = quote_from_bytes(raw, safe=safe)
    text = (quoted.lower() if lower else quoted) + junk
    encoded = text.encode("latin-1")
    assert percent_decoded(encoded) == unquote_to_bytes(encoded)
