"""Peers as handed out in replies: one :class:`Peer`, or a :class:`PeerList` in compact form (sans-IO).

Stores hand out peers by the thousand per second, mostly for compact replies (BEP 23/7), so a
reply's peers travel as the compact strings themselves, with the peer ids alongside in the same
order; :class:`Peer` objects are built only when something iterates over them.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator

PEER_ID_LENGTH = 20
IPV4_SIZE = 6
IPV6_SIZE = 18


class Peer:
    """A peer as handed out to others: who it is and where to reach it.

    A peer can be built from its 6- or 18-byte compact form (BEP 23/7) alone; its address is
    then spelled out only if someone asks.
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
            family = socket.AF_INET if len(self.compact) == IPV4_SIZE else socket.AF_INET6
            self._ip = socket.inet_ntop(family, self.compact[:-2])
        return self._ip

    def compact_form(self) -> bytes:
        """6 bytes for IPv4 (IPv4-mapped IPv6 included), 18 for IPv6."""
        return self.compact or peer_address(self.ip).packed + struct.pack(">H", self.port)

    def _identity(self) -> tuple[bytes, str, int]:
        return (self.peer_id, str(peer_address(self.ip)), self.port)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Peer) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"Peer(peer_id={self.peer_id!r}, ip={self.ip!r}, port={self.port})"


class PeerList:
    """Peers picked for one reply: IPv4 and IPv6 compact strings, with their peer ids.

    ``ipv4`` holds 6 bytes per peer and ``ipv4_ids`` 20 per peer in the same order; likewise
    ``ipv6`` (18 bytes each) and ``ipv6_ids``. Iterating yields :class:`Peer` objects.
    """

    __slots__ = ("ipv4", "ipv4_ids", "ipv6", "ipv6_ids")

    def __init__(
        self, ipv4: bytes = b"", ipv4_ids: bytes = b"", ipv6: bytes = b"", ipv6_ids: bytes = b""
    ) -> None:
        self.ipv4 = ipv4
        self.ipv4_ids = ipv4_ids
        self.ipv6 = ipv6
        self.ipv6_ids = ipv6_ids

    @classmethod
    def of(cls, peers: Iterable[Peer]) -> PeerList:
        ipv4: list[bytes] = []
        ipv4_ids: list[bytes] = []
        ipv6: list[bytes] = []
        ipv6_ids: list[bytes] = []
        for peer in peers:
            form = peer.compact_form()
            if len(form) == IPV4_SIZE:
                ipv4.append(form)
                ipv4_ids.append(peer.peer_id)
            else:
                ipv6.append(form)
                ipv6_ids.append(peer.peer_id)
        return cls(b"".join(ipv4), b"".join(ipv4_ids), b"".join(ipv6), b"".join(ipv6_ids))

    def __len__(self) -> int:
        return len(self.ipv4) // IPV4_SIZE + len(self.ipv6) // IPV6_SIZE

    def __iter__(self) -> Iterator[Peer]:
        for compact, ids, size in (
            (self.ipv4, self.ipv4_ids, IPV4_SIZE),
            (self.ipv6, self.ipv6_ids, IPV6_SIZE),
        ):
            for n in range(len(compact) // size):
                peer_id = ids[n * PEER_ID_LENGTH : (n + 1) * PEER_ID_LENGTH]
                yield Peer(peer_id, "", 0, compact[n * size : (n + 1) * size])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PeerList) and (
            self.ipv4,
            self.ipv4_ids,
            self.ipv6,
            self.ipv6_ids,
        ) == (other.ipv4, other.ipv4_ids, other.ipv6, other.ipv6_ids)

    def __hash__(self) -> int:
        return hash((self.ipv4, self.ipv4_ids, self.ipv6, self.ipv6_ids))

    def __repr__(self) -> str:
        return f"PeerList({list(self)!r})"


NO_PEERS = PeerList()


def peer_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ip`` as an address, IPv4-mapped IPv6 turned back into IPv4."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
