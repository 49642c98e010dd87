"""The UDP tracker protocol (BEP 15) with the passkey as BEP 41 URL data, sans-IO.

Connection ids are stateless: 4 bytes of issue time and 4 bytes of an HMAC over the time and
the client's IP address, so any tracker instance holding the secret can check one and it stops
working two minutes after it was issued. The port is left out: clients such as libtorrent share
one connection id among all their sockets (BEP 15 ties the id to the address against spoofing).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

from tracker.announce import DEFAULT_NUMWANT, HASH_LENGTH, Announce, AnnounceReply, Event
from tracker.errors import AnnounceError

PROTOCOL_ID = 0x41727101980
CONNECTION_LIFETIME = 120
MAX_SCRAPE_HASHES = 74
_CONNECT = struct.Struct("!QII")
_HEADER = struct.Struct("!8sII")
_ANNOUNCE = struct.Struct("!20s20sqqqIIIiH")
_ANNOUNCE_SIZE = _HEADER.size + _ANNOUNCE.size
_EVENTS = {0: Event.EMPTY, 1: Event.COMPLETED, 2: Event.STARTED, 3: Event.STOPPED}
_EVENT_CODES = {event: code for code, event in _EVENTS.items()}
_OPTION_END, _OPTION_NOP, _OPTION_URL_DATA = 0, 1, 2
_PASSKEY_PATH = re.compile(rb"/([A-Za-z0-9_-]{1,128})/announce(?:\?.*)?")


class Action(enum.IntEnum):
    CONNECT = 0
    ANNOUNCE = 1
    SCRAPE = 2
    ERROR = 3


class UdpRequestError(AnnounceError):
    """A datagram that is not a valid request; ``transaction_id`` is known if it got that far."""

    def __init__(self, message: str, transaction_id: int | None = None) -> None:
        super().__init__(message)
        self.transaction_id = transaction_id


@dataclass(frozen=True)
class ConnectRequest:
    transaction_id: int


@dataclass(frozen=True)
class AnnounceRequest:
    connection_id: bytes
    transaction_id: int
    announce: Announce
    url_data: bytes

    @property
    def passkey(self) -> str | None:
        """The passkey in ``/<passkey>/announce`` carried as URL data, if any."""
        found = _PASSKEY_PATH.fullmatch(self.url_data)
        return found.group(1).decode("ascii") if found else None


@dataclass(frozen=True)
class ScrapeRequest:
    connection_id: bytes
    transaction_id: int
    info_hashes: tuple[bytes, ...]


UdpRequest = ConnectRequest | AnnounceRequest | ScrapeRequest


def parse_request(data: bytes, max_numwant: int) -> UdpRequest:
    """The request in one datagram, or :class:`UdpRequestError` saying what is wrong."""
    if len(data) < 16:
        raise UdpRequestError(f"datagram of {len(data)} bytes is too short for a request")
    connection_id, action, transaction_id = _HEADER.unpack_from(data)
    if action == Action.CONNECT:
        if int.from_bytes(connection_id, "big") != PROTOCOL_ID:
            raise UdpRequestError("connect request without the protocol id", transaction_id)
        return ConnectRequest(transaction_id)
    if action == Action.ANNOUNCE:
        return _announce(data, connection_id, transaction_id, max_numwant)
    if action == Action.SCRAPE:
        hashes = data[_HEADER.size :]
        if not hashes or len(hashes) % HASH_LENGTH:
            raise UdpRequestError("scrape must carry whole 20-byte info-hashes", transaction_id)
        count = len(hashes) // HASH_LENGTH
        if count > MAX_SCRAPE_HASHES:
            raise UdpRequestError(
                f"scrape may name at most {MAX_SCRAPE_HASHES} info-hashes", transaction_id
            )
        found = (hashes[i * HASH_LENGTH : (i + 1) * HASH_LENGTH] for i in range(count))
        return ScrapeRequest(connection_id, transaction_id, tuple(found))
    raise UdpRequestError(f"unknown action {action}", transaction_id)


def _announce(
    data: bytes, connection_id: bytes, transaction_id: int, max_numwant: int
) -> AnnounceRequest:
    if len(data) < _ANNOUNCE_SIZE:
        raise UdpRequestError(
            f"announce must be at least {_ANNOUNCE_SIZE} bytes, got {len(data)}", transaction_id
        )
    (info_hash, peer_id, downloaded, left, uploaded, event, _ip, key, numwant, port) = (
        _ANNOUNCE.unpack_from(data, _HEADER.size)
    )
    if min(downloaded, left, uploaded) < 0:
        raise UdpRequestError("downloaded, left and uploaded must not be negative", transaction_id)
    if event not in _EVENTS:
        raise UdpRequestError(f"unknown event {event}", transaction_id)
    if port == 0:
        raise UdpRequestError("port must be between 1 and 65535", transaction_id)
    announce = Announce(
        info_hash=info_hash,
        peer_id=peer_id,
        port=port,
        uploaded=uploaded,
        downloaded=downloaded,
        left=left,
        event=_EVENTS[event],
        compact=True,
        numwant=min(DEFAULT_NUMWANT if numwant < 0 else numwant, max_numwant),
        key=key.to_bytes(4, "big"),
    )
    url_data = _url_data(data[_ANNOUNCE_SIZE:], transaction_id)
    return AnnounceRequest(connection_id, transaction_id, announce, url_data)


def _url_data(options: bytes, transaction_id: int) -> bytes:
    """Every URLData option concatenated (BEP 41); stops at EndOfOptions."""
    url = bytearray()
    at = 0
    while at < len(options):
        kind = options[at]
        if kind == _OPTION_END:
            break
        if kind == _OPTION_NOP:
            at += 1
            continue
        if at + 1 >= len(options):
            raise UdpRequestError("option without its length byte", transaction_id)
        length = options[at + 1]
        if at + 2 + length > len(options):
            raise UdpRequestError("option runs past the end of the datagram", transaction_id)
        if kind == _OPTION_URL_DATA:
            url += options[at + 2 : at + 2 + length]
        at += 2 + length
    return bytes(url)


def encode_connect_reply(transaction_id: int, connection_id: bytes) -> bytes:
    return struct.pack("!II", Action.CONNECT, transaction_id) + connection_id


def encode_announce_reply(transaction_id: int, reply: AnnounceReply, ipv6: bool) -> bytes:
    """Peers of the request's address family only: 6 bytes each for IPv4, 18 for IPv6."""
    head = struct.pack(
        "!IIIII",
        Action.ANNOUNCE,
        transaction_id,
        reply.interval,
        reply.stats.incomplete,
        reply.stats.complete,
    )
    return head + (reply.peers.ipv6 if ipv6 else reply.peers.ipv4)


def encode_scrape_reply(transaction_id: int, counts: list[tuple[int, int, int]]) -> bytes:
    """``counts`` holds (seeders, completed, leechers) per requested hash, in order."""
    head = struct.pack("!II", Action.SCRAPE, transaction_id)
    return head + b"".join(struct.pack("!III", *entry) for entry in counts)


def encode_error(transaction_id: int, message: str) -> bytes:
    return struct.pack("!II", Action.ERROR, transaction_id) + message.encode("utf-8")[:1000]


def connection_id(secret: bytes, now: int, host: str) -> bytes:
    issued = (now & 0xFFFFFFFF).to_bytes(4, "big")
    return issued + _mac(secret, issued, host)


def connection_valid(secret: bytes, candidate: bytes, now: int, host: str) -> bool:
    """Whether ``candidate`` was issued to ``host`` within the last two minutes."""
    issued = candidate[:4]
    age = (now - int.from_bytes(issued, "big")) & 0xFFFFFFFF
    if age > CONNECTION_LIFETIME:
        return False
    return hmac.compare_digest(candidate[4:], _mac(secret, issued, host))


def _mac(secret: bytes, issued: bytes, host: str) -> bytes:
    message = issued + host.encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:4]


def encode_connect_request(transaction_id: int) -> bytes:
    """A client's connect request (tests and benches speak the protocol with these)."""
    return _CONNECT.pack(PROTOCOL_ID, Action.CONNECT, transaction_id)


def encode_announce_request(
    connection: bytes, transaction_id: int, announce: Announce, url_data: bytes = b""
) -> bytes:
    """A client's announce request; URL data is split into BEP 41 options of 255 bytes."""
    body = _HEADER.pack(connection, Action.ANNOUNCE, transaction_id) + _ANNOUNCE.pack(
        announce.info_hash,
        announce.peer_id,
        announce.downloaded,
        announce.left,
        announce.uploaded,
        _EVENT_CODES[announce.event],
        0,
        int.from_bytes((announce.key or b"\0\0\0\0")[:4].rjust(4, b"\0"), "big"),
        announce.numwant,
        announce.port,
    )
    for at in range(0, len(url_data), 255):
        chunk = url_data[at : at + 255]
        body += bytes([_OPTION_URL_DATA, len(chunk)]) + chunk
    return body + bytes([_OPTION_END]) if url_data else body


def encode_scrape_request(
    connection: bytes, transaction_id: int, info_hashes: tuple[bytes, ...]
) -> bytes:
    return _HEADER.pack(connection, Action.SCRAPE, transaction_id) + b"".join(info_hashes)
