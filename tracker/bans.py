"""Operators' bans: a peer id, a passkey or an IP range (CIDR) is refused (sans-IO)."""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tracker.errors import TrackerError

_HEX40 = re.compile(r"[0-9a-f]{40}")
_PASSKEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


class InvalidBan(TrackerError, ValueError):
    """A ban names something that cannot be banned (bad CIDR, bad peer id)."""


class BanKind(enum.StrEnum):
    PEER = "peer"
    PASSKEY = "passkey"
    IP_RANGE = "ip_range"


@dataclass(frozen=True)
class Ban:
    kind: BanKind
    value: str
    reason: str = ""

    @classmethod
    def create(cls, kind: str, value: str, reason: str = "") -> Ban:
        """A validated ban; the value is normalised (lowercase hex, canonical network)."""
        try:
            ban_kind = BanKind(kind)
        except ValueError:
            raise InvalidBan("kind must be peer, passkey or ip_range") from None
        if len(reason) > 200:
            raise InvalidBan("reason must be at most 200 characters")
        if ban_kind is BanKind.PEER:
            value = value.lower()
            if not _HEX40.fullmatch(value):
                raise InvalidBan("a peer ban names the peer id as 40 hexadecimal digits")
        elif ban_kind is BanKind.PASSKEY:
            if not _PASSKEY.fullmatch(value):
                raise InvalidBan("a passkey ban names a passkey")
        else:
            try:
                value = str(ipaddress.ip_network(value, strict=False))
            except ValueError:
                raise InvalidBan(f"{value!r} is not an IP range in CIDR notation") from None
        return cls(ban_kind, value, reason)


class BanList:
    """The bans in force, indexed for checks on every announce."""

    def __init__(self, bans: Iterable[Ban] = ()) -> None:
        self.bans = tuple(bans)
        self._peers = {ban.value for ban in self.bans if ban.kind is BanKind.PEER}
        self._passkeys = {ban.value for ban in self.bans if ban.kind is BanKind.PASSKEY}
        self._networks = [
            ipaddress.ip_network(ban.value) for ban in self.bans if ban.kind is BanKind.IP_RANGE
        ]

    def __bool__(self) -> bool:
        return bool(self.bans)

    def refusal(self, passkey: str, peer_id: bytes | None, ip: str) -> str | None:
        """Why this announcer is banned, or None."""
        if passkey in self._passkeys:
            return "banned: this passkey is banned"
        if peer_id is not None and self._peers and peer_id.hex() in self._peers:
            return "banned: this peer is banned"
        if self._networks:
            address = ipaddress.ip_address(ip)
            if any(address in network for network in self._networks):
                return "banned: your IP address is in a banned range"
        return None
