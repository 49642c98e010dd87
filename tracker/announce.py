"""Announce requests and replies (BEP 3, compact peers BEP 23, IPv6 peers BEP 7), sans-IO.

The query string is parsed from its raw percent-encoded form: ``info_hash`` and ``peer_id``
are arbitrary bytes, which a UTF-8 query decoder would mangle.
"""

from __future__ import annotations

import binascii
import enum
import ipaddress
import re
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from tracker.bencode import Bencodable, encode
from tracker.errors import AnnounceError

HASH_LENGTH = 20
DEFAULT_NUMWANT = 50
# Byte counters fit a signed 64-bit integer in every tracker protocol (BEP 15 included).
MAX_COUNTER = 2**63 - 1
MAX_QUERY_LENGTH = 4096
MAX_PARAMETERS = 100
_MAX_KEY_LENGTH = 64


class Event(enum.Enum):
    """Why the client announces; ``EMPTY`` is the regular re-announce."""

    EMPTY = ""
    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Announce:
    """One validated announce request."""

    info_hash: bytes
    peer_id: bytes
    port: int
    uploaded: int
    downloaded: int
    left: int
    event: Event
    compact: bool
    numwant: int
    no_peer_id: bool = False
    key: bytes | None = None
    # The ``ip`` parameter; honoured only when the request comes from a trusted proxy.
    ip: str | None = None

    @property
    def is_seeder(self) -> bool:
        return self.left == 0


class Peer:
    """A peer as handed out to others: who it is and where to reach it.

    Stores hand out peers by the thousand per second, mostly for compact replies: a peer can
    be built from its 6- or 18-byte compact form (BEP 23/7) alone, and its address is then
    spelled out only if someone asks.
    """

    __slots__ = ("_ip", "_port", "compact", "peer_id")

    def __init__(self, peer_id: bytes, ip: str = "", port: int = 0, compact: bytes = b"") -> None:
        self.peer_id = peer_id
        self._ip = ip
        self._port = port
        self.compact = compact

    @property
    def port(self) -> int:
        return self._port or int.from_bytes(self.compact[-2:], "big")

    @property
    def ip(self) -> str:
        if not self._ip:
            family = socket.AF_INET if len(self.compact) == 6 else socket.AF_INET6
            self._ip = socket.inet_ntop(family, self.compact[:-2])
        return self._ip

    def _identity(self) -> tuple[bytes, str, int]:
        return (self.peer_id, str(peer_address(self.ip)), self.port)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Peer) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"Peer(peer_id={self.peer_id!r}, ip={self.ip!r}, port={self.port})"


@dataclass(frozen=True)
class SwarmStats:
    """Counts for one swarm, as announce replies and scrapes report them."""

    complete: int = 0
    incomplete: int = 0
    downloaded: int = 0


@dataclass(frozen=True)
class AnnounceReply:
    interval: int
    min_interval: int
    stats: SwarmStats
    peers: tuple[Peer, ...]


def query_pairs(raw_query: str | bytes) -> list[tuple[str, bytes]]:
    """``(name, value)`` pairs of a raw query string, values percent-decoded to bytes."""
    try:
        # aiohttp hands over the request target as text with undecodable bytes escaped.
        raw = (
            raw_query.encode("utf-8", "surrogateescape")
            if isinstance(raw_query, str)
            else bytes(raw_query)
        )
    except UnicodeEncodeError:
        raise AnnounceError("query string is not valid text") from None
    if len(raw) > MAX_QUERY_LENGTH:
        raise AnnounceError(f"query string is longer than {MAX_QUERY_LENGTH} bytes")
    pairs: list[tuple[str, bytes]] = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        # '+' is left alone: BEP 3 clients percent-encode every byte of binary values.
        if b"%" in name:
            name = percent_decoded(name)
        if b"%" in value:
            value = percent_decoded(value)
        pairs.append((name.decode("latin-1"), value))
        if len(pairs) > MAX_PARAMETERS:
            raise AnnounceError(f"query string has more than {MAX_PARAMETERS} parameters")
    return pairs


# Anything percent_decoded's fast path would read differently from RFC 3986 percent-decoding.
_NOT_PLAIN_ESCAPES = re.compile(rb"=|%(?![0-9A-Fa-f]{2})|[\x00-\x20\x7f-\xff]")


def percent_decoded(raw: bytes) -> bytes:
    """``raw`` with every ``%XX`` decoded (``+`` stays a plus), as ``unquote_to_bytes``.

    Announces carry two 20-byte values in ``%XX`` form; quoted-printable decoding in C does the
    same job ten times faster once ``%`` is spelled ``=``, which is safe when no ``=``, bare
    ``%`` or whitespace is present. Anything else takes the general path.
    """
    if _NOT_PLAIN_ESCAPES.search(raw):
        return unquote_to_bytes(raw)
    return binascii.a2b_qp(raw.replace(b"%", b"="))


def unique_parameters(pairs: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
    params: dict[str, bytes] = {}
    for name, value in pairs:
        if name in params:
            raise AnnounceError(f"parameter {name!r} is given more than once")
        params[name] = value
    return params


def parse_info_hash(value: bytes, name: str = "info_hash") -> bytes:
    if len(value) != HASH_LENGTH:
        raise AnnounceError(f"{name} must be exactly {HASH_LENGTH} bytes, got {len(value)}")
    return value


def parse_announce(raw_query: str | bytes, max_numwant: int) -> Announce:
    """The announce in ``raw_query``; :class:`AnnounceError` says what is wrong otherwise."""
    params = unique_parameters(query_pairs(raw_query))
    for required in ("info_hash", "peer_id", "port", "uploaded", "downloaded", "left"):
        if required not in params:
            raise AnnounceError(f"missing required parameter {required!r}")
    port = _whole_number(params, "port", maximum=65535)
    if port < 1:
        raise AnnounceError("port must be between 1 and 65535")
    requested = _whole_number(params, "numwant", maximum=MAX_COUNTER, default=DEFAULT_NUMWANT)
    key = params.get("key")
    if key is not None and len(key) > _MAX_KEY_LENGTH:
        raise AnnounceError(f"key must be at most {_MAX_KEY_LENGTH} bytes")
    return Announce(
        info_hash=parse_info_hash(params["info_hash"]),
        peer_id=parse_info_hash(params["peer_id"], "peer_id"),
        port=port,
        uploaded=_whole_number(params, "uploaded", MAX_COUNTER),
        downloaded=_whole_number(params, "downloaded", MAX_COUNTER),
        left=_whole_number(params, "left", MAX_COUNTER),
        event=_event(params.get("event", b"")),
        compact=_flag(params, "compact", default=True),
        numwant=min(requested, max_numwant),
        no_peer_id=_flag(params, "no_peer_id", default=False),
        key=key,
        ip=_address(params.get("ip")),
    )


def _address(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(peer_address(raw.decode("ascii")))
    except (UnicodeDecodeError, ValueError):
        raise AnnounceError(f"ip must be an IPv4 or IPv6 address, got {_shown(raw)}") from None


def _whole_number(params: dict[str, bytes], name: str, maximum: int, default: int = 0) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw or not raw.isdigit() or not raw.isascii() or len(raw) > 20:
        raise AnnounceError(f"{name} must be a non-negative whole number, got {_shown(raw)}")
    value = int(raw)
    if value > maximum:
        raise AnnounceError(f"{name} must be at most {maximum}, got {value}")
    return value


def _flag(params: dict[str, bytes], name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw not in (b"0", b"1"):
        raise AnnounceError(f"{name} must be 0 or 1, got {_shown(raw)}")
    return raw == b"1"


def _event(raw: bytes) -> Event:
    if raw == b"empty":
        return Event.EMPTY
    try:
        return Event(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise AnnounceError(
            f"event must be started, completed, stopped or empty, got {_shown(raw)}"
        ) from None


def _shown(raw: bytes) -> str:
    return repr(raw[:32].decode("latin-1"))


def encode_announce_reply(reply: AnnounceReply, compact: bool, no_peer_id: bool = False) -> bytes:
    """The bencoded reply: compact ``peers``/``peers6`` strings, or a list of peer dicts."""
    if compact:
        # The hot path, written out: keys in bencode order, no generic encoder.
        ipv4, ipv6 = _compact_peers(reply.peers)
        stats = reply.stats
        head = b"d8:completei%de10:downloadedi%de10:incompletei%de8:intervali%de" % (
            stats.complete,
            stats.downloaded,
            stats.incomplete,
            reply.interval,
        )
        head += b"12:min intervali%de5:peers%d:" % (reply.min_interval, len(ipv4))
        tail = b"6:peers6%d:%se" % (len(ipv6), ipv6) if ipv6 else b"e"
        return head + ipv4 + tail
    body: dict[str, Bencodable] = {
        "interval": reply.interval,
        "min interval": reply.min_interval,
        "complete": reply.stats.complete,
        "incomplete": reply.stats.incomplete,
        "downloaded": reply.stats.downloaded,
    }
    body["peers"] = [_peer_dict(peer, no_peer_id) for peer in reply.peers]
    return encode(body)


def encode_failure(reason: str) -> bytes:
    """A bencoded refusal; trackers send it with HTTP 200 so clients show the reason."""
    return encode({"failure reason": reason})


def _compact_peers(peers: Iterable[Peer]) -> tuple[bytes, bytes]:
    forms = [peer.compact or _compact_form(peer) for peer in peers]
    ipv4 = b"".join([form for form in forms if len(form) == 6])
    if len(ipv4) == 6 * len(forms):
        return ipv4, b""
    return ipv4, b"".join([form for form in forms if len(form) == 18])


def _compact_form(peer: Peer) -> bytes:
    return peer_address(peer.ip).packed + struct.pack(">H", peer.port)


def _peer_dict(peer: Peer, no_peer_id: bool) -> dict[str, Bencodable]:
    entry: dict[str, Bencodable] = {"ip": str(peer_address(peer.ip)), "port": peer.port}
    if not no_peer_id:
        entry["peer id"] = peer.peer_id
    return entry


def peer_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ip`` as an address, IPv4-mapped IPv6 turned back into IPv4."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
