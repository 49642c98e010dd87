"""Compact per-peer records, shared by every swarm store engine (sans-IO).

A tracked peer costs one dictionary entry: a 28-byte key (an 8-byte tag of the owning account
followed by the 20-byte peer id, so one player cannot overwrite another's entry) and one packed
record of 27 (IPv4) or 39 (IPv6) bytes: the peer's compact form (BEP 23/7: address, port),
then flags, last seen, uploaded and downloaded. The compact form comes first so a reply is
built by slicing. The Redis engine stores the same bytes and its Lua script reads the tail.
"""

from __future__ import annotations

import functools
import hashlib
import socket
import struct
from dataclasses import dataclass

OWNER_TAG_LENGTH = 8
# flags (bit 0: seeder), last seen (whole seconds), uploaded, downloaded: after the address.
TAIL = struct.Struct("!BIqq")
TAIL_SIZE = TAIL.size
SEEDER_FLAG = 1


@functools.lru_cache(maxsize=4096)
def owner_tag(owner: str) -> bytes:
    """8 bytes naming the account a peer announced for (its user id, or its passkey)."""
    return hashlib.blake2b(owner.encode("utf-8"), digest_size=OWNER_TAG_LENGTH).digest()


def peer_key(owner: str, peer_id: bytes) -> bytes:
    return owner_tag(owner) + peer_id


@dataclass(frozen=True, slots=True)
class PeerRecord:
    """What a store remembers about one peer."""

    address: bytes
    port: int
    seeder: bool
    last_seen: int
    uploaded: int
    downloaded: int

    def pack(self) -> bytes:
        return pack_record(
            self.address, self.port, self.seeder, self.last_seen, self.uploaded, self.downloaded
        )

    @classmethod
    def unpack(cls, raw: bytes) -> PeerRecord:
        flags, last_seen, uploaded, downloaded = TAIL.unpack_from(raw, len(raw) - TAIL_SIZE)
        return cls(
            address=raw[: -TAIL_SIZE - 2],
            port=int.from_bytes(raw[-TAIL_SIZE - 2 : -TAIL_SIZE], "big"),
            seeder=bool(flags & SEEDER_FLAG),
            last_seen=last_seen,
            uploaded=uploaded,
            downloaded=downloaded,
        )

    @property
    def ip(self) -> str:
        family = socket.AF_INET if len(self.address) == 4 else socket.AF_INET6
        return socket.inet_ntop(family, self.address)


def pack_record(
    address: bytes, port: int, seeder: bool, last_seen: int, uploaded: int, downloaded: int
) -> bytes:
    """The stored form of a peer (see the module's docstring)."""
    tail = TAIL.pack(SEEDER_FLAG if seeder else 0, last_seen, uploaded, downloaded)
    return address + port.to_bytes(2, "big") + tail


def packed_address(ip: str) -> bytes:
    """``ip`` in network byte order: 4 bytes for IPv4 (mapped IPv6 included), else 16."""
    if ":" not in ip:
        return socket.inet_pton(socket.AF_INET, ip)
    raw = socket.inet_pton(socket.AF_INET6, ip)
    if raw[:12] == b"\x00" * 10 + b"\xff\xff":
        return raw[12:]
    return raw


def record_seeder(raw: bytes) -> bool:
    return bool(raw[-TAIL_SIZE] & SEEDER_FLAG)


def record_last_seen(raw: bytes) -> int:
    # Spelled out: mypyc miscompiles indexing bytes with a slice object held in a global.
    return int.from_bytes(raw[1 - TAIL_SIZE : 5 - TAIL_SIZE], "big")
