"""Announce requests and replies (BEP 3, compact peers BEP 23, IPv6 peers BEP 7), sans-IO.

The query string is parsed from its raw percent-encoded form: ``info_hash`` and ``peer_id``
are arbitrary bytes, which a UTF-8 query decoder would mangle.
"""

from __future__ import annotations

import binascii
import enum
import operator
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from tracker.bencode import Bencodable, encode
from tracker.errors import AnnounceError
from tracker.peer_list import NO_PEERS, Peer, PeerList, peer_address

__all__ = [
    "NO_PEERS",
    "Announce",
    "AnnounceReply",
    "Event",
    "Peer",
    "PeerList",
    "SwarmStats",
    "encode_announce_reply",
    "encode_failure",
    "parse_announce",
    "peer_address",
]

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


# Plain classes with every attribute set in __init__: one of each is built per announce, and
# compiled (mypyc) they are built in C, where a named tuple's constructor runs Python code.
class Announce:
    """One validated announce request."""

    def __init__(
        self,
        info_hash: bytes,
        peer_id: bytes,
        port: int,
        uploaded: int,
        downloaded: int,
        left: int,
        event: Event,
        compact: bool,
        numwant: int,
        no_peer_id: bool = False,
        key: bytes | None = None,
        ip: str | None = None,
    ) -> None:
        self.info_hash = info_hash
        self.peer_id = peer_id
        self.port = port
        self.uploaded = uploaded
        self.downloaded = downloaded
        self.left = left
        self.event = event
        self.compact = compact
        self.numwant = numwant
        self.no_peer_id = no_peer_id
        self.key = key
        # The ``ip`` parameter; honoured only when the request comes from a trusted proxy.
        self.ip = ip

    @property
    def is_seeder(self) -> bool:
        return self.left == 0

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _ANNOUNCE_FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Announce):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _ANNOUNCE_FIELDS)
        return f"Announce({fields})"


class SwarmStats(NamedTuple):
    """Counts for one swarm, as announce replies and scrapes report them."""

    complete: int = 0
    incomplete: int = 0
    downloaded: int = 0


_ANNOUNCE_FIELDS = (
    "info_hash",
    "peer_id",
    "port",
    "uploaded",
    "downloaded",
    "left",
    "event",
    "compact",
    "numwant",
    "no_peer_id",
    "key",
    "ip",
)


class AnnounceReply:
    """What an announce is answered: re-announce intervals, the swarm's counts, its peers."""

    def __init__(
        self, interval: int, min_interval: int, stats: SwarmStats, peers: PeerList
    ) -> None:
        self.interval = interval
        self.min_interval = min_interval
        self.stats = stats
        self.peers = peers


def _raw_query(raw_query: str | bytes) -> bytes:
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
    return raw


def _decoded_pair(part: bytes) -> tuple[bytes, bytes]:
    name, _, value = part.partition(b"=")
    # '+' is left alone: BEP 3 clients percent-encode every byte of binary values.
    if name.find(b"%") >= 0:
        name = percent_decoded(name)
    if value.find(b"%") >= 0:
        value = percent_decoded(value)
    return name, value


def query_pairs(raw_query: str | bytes) -> list[tuple[str, bytes]]:
    """``(name, value)`` pairs of a raw query string, values percent-decoded to bytes."""
    pairs: list[tuple[str, bytes]] = []
    for part in _raw_query(raw_query).split(b"&"):
        if not part:
            continue
        name, value = _decoded_pair(part)
        pairs.append((name.decode("latin-1"), value))
        if len(pairs) > MAX_PARAMETERS:
            raise AnnounceError(f"query string has more than {MAX_PARAMETERS} parameters")
    return pairs


def query_parameters(raw_query: str | bytes) -> dict[bytes, bytes]:
    """The query's parameters by name, percent-decoded; a name given twice is refused."""
    raw = _raw_query(raw_query)
    parts = raw.split(b"&")
    # Every announce comes through here: split it in C, and take the careful path below
    # only for an empty part, a part without '=', a repeated name or an encoded name.
    try:
        params: dict[bytes, bytes] = dict(map(_SPLIT_PAIR, parts))
    except ValueError:
        return _query_parameters_one_by_one(raw)
    # find() rather than `in` throughout: bytes.__contains__ first tries its argument as an
    # integer and builds a TypeError message each time.
    if len(params) != len(parts) or len(parts) > MAX_PARAMETERS or b"".join(params).find(b"%") >= 0:
        return _query_parameters_one_by_one(raw)
    escapes = raw.count(b"%")
    if escapes:
        info_hash, peer_id = params.get(b"info_hash", b""), params.get(b"peer_id", b"")
        # Clients escape the two binary values; other values rarely hold an escape.
        if info_hash.count(b"%") + peer_id.count(b"%") == escapes:
            if info_hash.find(b"%") >= 0:
                params[b"info_hash"] = percent_decoded(info_hash)
            if peer_id.find(b"%") >= 0:
                params[b"peer_id"] = percent_decoded(peer_id)
        else:
            for name, value in params.items():
                if value.find(b"%") >= 0:
                    params[name] = percent_decoded(value)
    return params


_SPLIT_PAIR = operator.methodcaller("split", b"=", 1)


def _query_parameters_one_by_one(raw: bytes) -> dict[bytes, bytes]:
    params: dict[bytes, bytes] = {}
    for part in raw.split(b"&"):
        if not part:
            continue
        name, value = _decoded_pair(part)
        if name in params:
            raise AnnounceError(f"parameter {name.decode('latin-1')!r} is given more than once")
        params[name] = value
        if len(params) > MAX_PARAMETERS:
            raise AnnounceError(f"query string has more than {MAX_PARAMETERS} parameters")
    return params


def percent_decoded(raw: bytes) -> bytes:
    """``raw`` with every ``%XX`` decoded (``+`` stays a plus), as ``unquote_to_bytes``.

    Announces carry two 20-byte values in ``%XX`` form; quoted-printable decoding in C does the
    same job ten times faster once ``%`` is spelled ``=``. The two differ only where ``=`` or a
    line break occurs (looked for first) or where a ``%`` is not followed by two hex digits,
    which shows as a decoded length that does not match the number of ``%`` signs.
    """
    if raw.find(b"=") >= 0 or raw.find(b"\n") >= 0 or raw.find(b"\r") >= 0:
        return unquote_to_bytes(raw)
    decoded = binascii.a2b_qp(raw.replace(b"%", b"="))
    if len(decoded) != len(raw) - 2 * raw.count(b"%"):
        return unquote_to_bytes(raw)
    return decoded


def parse_info_hash(value: bytes, name: str = "info_hash") -> bytes:
    if len(value) != HASH_LENGTH:
        raise AnnounceError(f"{name} must be exactly {HASH_LENGTH} bytes, got {len(value)}")
    return value


_REQUIRED = (b"info_hash", b"peer_id", b"port", b"uploaded", b"downloaded", b"left")
_EVENTS = {
    b"": Event.EMPTY,
    b"empty": Event.EMPTY,
    b"started": Event.STARTED,
    b"completed": Event.COMPLETED,
    b"stopped": Event.STOPPED,
}


def parse_announce(raw_query: str | bytes, max_numwant: int) -> Announce:
    """The announce in ``raw_query``; :class:`AnnounceError` says what is wrong otherwise."""
    params = query_parameters(raw_query)
    get = params.get
    info_hash, peer_id = get(b"info_hash"), get(b"peer_id")
    port, uploaded, downloaded, left = (
        get(b"port"),
        get(b"uploaded"),
        get(b"downloaded"),
        get(b"left"),
    )
    if (
        info_hash is None
        or peer_id is None
        or port is None
        or uploaded is None
        or downloaded is None
        or left is None
    ):
        missing = next(name for name in _REQUIRED if name not in params)
        raise AnnounceError(f"missing required parameter {missing.decode()!r}")
    numwant, key = get(b"numwant"), get(b"key")
    event = _EVENTS.get(get(b"event", b""))
    if (
        # bytes.isdigit() is true for ASCII digits only; 18 digits stay below MAX_COUNTER.
        port.isdigit()
        and 0 < int(port) < 65536
        and uploaded.isdigit()
        and downloaded.isdigit()
        and left.isdigit()
        and len(uploaded) <= 18
        and len(downloaded) <= 18
        and len(left) <= 18
        and (numwant is None or (numwant.isdigit() and len(numwant) <= 18))
        and event is not None
        and len(info_hash) == HASH_LENGTH
        and len(peer_id) == HASH_LENGTH
        and (key is None or len(key) <= _MAX_KEY_LENGTH)
        and b"ip" not in params
    ):
        # The common announce, checked in one go; anything else is checked field by field.
        compact, no_peer_id = get(b"compact"), get(b"no_peer_id")
        return Announce(
            info_hash,
            peer_id,
            int(port),
            int(uploaded),
            int(downloaded),
            int(left),
            event,
            compact != b"0" if compact in _FLAGS else _flag(compact, "compact", default=True),
            min(DEFAULT_NUMWANT if numwant is None else int(numwant), max_numwant),
            no_peer_id == b"1"
            if no_peer_id in _FLAGS
            else _flag(no_peer_id, "no_peer_id", default=False),
            key,
        )
    return _checked_announce(params, max_numwant)


_FLAGS = (b"0", b"1", None)


def _checked_announce(params: dict[bytes, bytes], max_numwant: int) -> Announce:
    get = params.get
    port = _whole_number(params[b"port"], "port", 65535)
    if port < 1:
        raise AnnounceError("port must be between 1 and 65535")
    numwant = get(b"numwant")
    requested = (
        DEFAULT_NUMWANT if numwant is None else _whole_number(numwant, "numwant", MAX_COUNTER)
    )
    key = get(b"key")
    if key is not None and len(key) > _MAX_KEY_LENGTH:
        raise AnnounceError(f"key must be at most {_MAX_KEY_LENGTH} bytes")
    event = _EVENTS.get(get(b"event", b""))
    if event is None:
        raise AnnounceError(
            f"event must be started, completed, stopped or empty, got {_shown(params[b'event'])}"
        )
    ip = get(b"ip")
    return Announce(
        parse_info_hash(params[b"info_hash"]),
        parse_info_hash(params[b"peer_id"], "peer_id"),
        port,
        _whole_number(params[b"uploaded"], "uploaded", MAX_COUNTER),
        _whole_number(params[b"downloaded"], "downloaded", MAX_COUNTER),
        _whole_number(params[b"left"], "left", MAX_COUNTER),
        event,
        _flag(get(b"compact"), "compact", default=True),
        min(requested, max_numwant),
        _flag(get(b"no_peer_id"), "no_peer_id", default=False),
        key,
        None if ip is None else _address(ip),
    )


def _address(raw: bytes) -> str:
    try:
        return str(peer_address(raw.decode("ascii")))
    except (UnicodeDecodeError, ValueError):
        raise AnnounceError(f"ip must be an IPv4 or IPv6 address, got {_shown(raw)}") from None


def _whole_number(raw: bytes, name: str, maximum: int) -> int:
    # bytes.isdigit() is true for ASCII digits only.
    if not raw.isdigit() or len(raw) > 20:
        raise AnnounceError(f"{name} must be a non-negative whole number, got {_shown(raw)}")
    value = int(raw)
    if value > maximum:
        raise AnnounceError(f"{name} must be at most {maximum}, got {value}")
    return value


def _flag(raw: bytes | None, name: str, default: bool) -> bool:
    if raw is None:
        return default
    if raw == b"1":
        return True
    if raw == b"0":
        return False
    raise AnnounceError(f"{name} must be 0 or 1, got {_shown(raw)}")


def _shown(raw: bytes) -> str:
    return repr(raw[:32].decode("latin-1"))


def encode_announce_reply(reply: AnnounceReply, compact: bool, no_peer_id: bool = False) -> bytes:
    """The bencoded reply: compact ``peers``/``peers6`` strings, or a list of peer dicts."""
    stats = reply.stats
    if compact:
        # The hot path, written out: keys in bencode order, no generic encoder.
        ipv4, ipv6 = reply.peers.ipv4, reply.peers.ipv6
        tail = b"6:peers6%d:%se" % (len(ipv6), ipv6) if ipv6 else b"e"
        return b"".join(
            (
                b"d8:completei%de10:downloadedi%de10:incompletei%de8:intervali%de"
                b"12:min intervali%de5:peers%d:"
                % (
                    stats.complete,
                    stats.downloaded,
                    stats.incomplete,
                    reply.interval,
                    reply.min_interval,
                    len(ipv4),
                ),
                ipv4,
                tail,
            )
        )
    body: dict[str, Bencodable] = {
        "interval": reply.interval,
        "min interval": reply.min_interval,
        "complete": stats.complete,
        "incomplete": stats.incomplete,
        "downloaded": stats.downloaded,
    }
    body["peers"] = [_peer_dict(peer, no_peer_id) for peer in reply.peers]
    return encode(body)


def encode_failure(reason: str) -> bytes:
    """A bencoded refusal; trackers send it with HTTP 200 so clients show the reason."""
    return encode({"failure reason": reason})


def _peer_dict(peer: Peer, no_peer_id: bool) -> dict[str, Bencodable]:
    entry: dict[str, Bencodable] = {"ip": str(peer_address(peer.ip)), "port": peer.port}
    if not no_peer_id:
        entry["peer id"] = peer.peer_id
    return entry
