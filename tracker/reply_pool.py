"""A swarm's peers kept in reply form, so a reply is a slice rather than a loop (sans-IO).

The in-process store answers most announces from these pools: each holds the compact forms
(BEP 23/7) of up to :data:`POOL_SIZE` peers of one swarm, with their ids alongside in the same
order, and a reply is a window of it at a random offset with the announcer cut out. Building
a reply peer by peer in Python costs about a microsecond per peer; slicing bytes costs next to
nothing, whatever numwant is.

Pools follow their swarm as it changes: a joining peer is appended, a leaving one cut out, one
whose address, port or seeding changed is moved. A swarm larger than a pool is sampled anew
every :data:`RESAMPLE_SECONDS` so every peer gets its turn; peers going silent are dropped when
the oldest pooled announce would expire (:attr:`ReplyPools.valid_until`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from tracker.peer_list import IPV4_SIZE, IPV6_SIZE, PEER_ID_LENGTH, PeerList

POOL_SIZE = 1000
RESAMPLE_SECONDS = 10


class PeerPool:
    """Compact forms and ids of some peers, IPv4 and IPv6 apart."""

    __slots__ = ("ipv4", "ipv4_ids", "ipv6", "ipv6_ids")

    def __init__(self) -> None:
        self.ipv4 = b""
        self.ipv4_ids = b""
        self.ipv6 = b""
        self.ipv6_ids = b""

    def __len__(self) -> int:
        return len(self.ipv4_ids) // PEER_ID_LENGTH + len(self.ipv6_ids) // PEER_ID_LENGTH

    def add(self, compact: bytes, peer_id: bytes) -> None:
        if len(compact) == IPV4_SIZE:
            self.ipv4 += compact
            self.ipv4_ids += peer_id
        else:
            self.ipv6 += compact
            self.ipv6_ids += peer_id

    def remove(self, compact: bytes, peer_id: bytes) -> None:
        if len(compact) == IPV4_SIZE:
            self.ipv4, self.ipv4_ids = _cut(self.ipv4, self.ipv4_ids, compact, peer_id)
        else:
            self.ipv6, self.ipv6_ids = _cut(self.ipv6, self.ipv6_ids, compact, peer_id)

    def pick(self, own: bytes, own_id: bytes, wanted: int, rng: random.Random) -> PeerList:
        """Up to ``wanted`` peers at a random offset, never the one at ``own`` with ``own_id``."""
        ipv4, ipv4_ids, ipv6, ipv6_ids = self.ipv4, self.ipv4_ids, self.ipv6, self.ipv6_ids
        count4 = len(ipv4_ids) // PEER_ID_LENGTH
        count6 = len(ipv6_ids) // PEER_ID_LENGTH
        taken = wanted + 1  # room for the announcer's own entry, cut out below
        if count4 + count6 > taken:
            # A window of the pool first (each family its share), so only that is copied.
            share4 = min(count4, max(taken - count6, round(taken * count4 / (count4 + count6))))
            ipv4, ipv4_ids = _window(ipv4, ipv4_ids, share4, rng)
            ipv6, ipv6_ids = _window(ipv6, ipv6_ids, taken - share4, rng)
        if len(own) == IPV4_SIZE:
            ipv4, ipv4_ids = _cut(ipv4, ipv4_ids, own, own_id)
        else:
            ipv6, ipv6_ids = _cut(ipv6, ipv6_ids, own, own_id)
        if (len(ipv4_ids) + len(ipv6_ids)) // PEER_ID_LENGTH > wanted:
            # Its own entry was not in the window: one too many.
            if ipv4_ids:
                ipv4, ipv4_ids = ipv4[:-IPV4_SIZE], ipv4_ids[:-PEER_ID_LENGTH]
            else:
                ipv6, ipv6_ids = ipv6[:-IPV6_SIZE], ipv6_ids[:-PEER_ID_LENGTH]
        return PeerList(ipv4, ipv4_ids, ipv6, ipv6_ids)


def _cut(compact: bytes, ids: bytes, form: bytes, peer_id: bytes) -> tuple[bytes, bytes]:
    """``compact`` and ``ids`` without the entry holding ``form`` and ``peer_id``, if any."""
    size = len(form)
    at = compact.find(form)
    while at >= 0:
        index = at // size
        if at % size == 0 and ids[index * PEER_ID_LENGTH : (index + 1) * PEER_ID_LENGTH] == (
            peer_id
        ):
            return (
                compact[:at] + compact[at + size :],
                ids[: index * PEER_ID_LENGTH] + ids[(index + 1) * PEER_ID_LENGTH :],
            )
        at = compact.find(form, at + 1)
    return compact, ids


def _window(compact: bytes, ids: bytes, wanted: int, rng: random.Random) -> tuple[bytes, bytes]:
    """``wanted`` consecutive entries from a random one on, wrapping round the end."""
    count = len(ids) // PEER_ID_LENGTH
    if wanted >= count:
        return compact, ids
    if wanted <= 0:
        return b"", b""
    size = len(compact) // count
    start = rng.randrange(count)
    end = start + wanted
    if end <= count:
        return (
            compact[start * size : end * size],
            ids[start * PEER_ID_LENGTH : end * PEER_ID_LENGTH],
        )
    end -= count
    return (
        compact[start * size :] + compact[: end * size],
        ids[start * PEER_ID_LENGTH :] + ids[: end * PEER_ID_LENGTH],
    )


class ReplyPools:
    """What leechers are handed (everyone) and what seeders are (leechers only)."""

    __slots__ = ("everyone", "leechers", "size", "valid_until")

    def __init__(self, valid_until: float = float("-inf"), size: int = POOL_SIZE) -> None:
        self.everyone = PeerPool()
        self.leechers = PeerPool()
        self.size = size
        # Rebuilt from the swarm once the clock passes this (a pooled peer may be stale).
        self.valid_until = valid_until

    @classmethod
    def build(
        cls, entries: Iterable[tuple[bytes, bytes, bool]], valid_until: float, size: int
    ) -> ReplyPools:
        """Pools of ``(compact form, peer id, seeder)`` entries, the first ``size`` of each."""
        # Joined once at the end: appending to bytes one by one would copy them each time.
        everyone: tuple[list[bytes], list[bytes], list[bytes], list[bytes]] = ([], [], [], [])
        leechers: tuple[list[bytes], list[bytes], list[bytes], list[bytes]] = ([], [], [], [])
        for compact, peer_id, seeder in entries:
            family = 0 if len(compact) == IPV4_SIZE else 2
            for lists in (everyone,) if seeder else (everyone, leechers):
                if len(lists[1]) + len(lists[3]) < size:
                    lists[family].append(compact)
                    lists[family + 1].append(peer_id)
        pools = cls(valid_until, size)
        for pool, lists in ((pools.everyone, everyone), (pools.leechers, leechers)):
            pool.ipv4, pool.ipv4_ids, pool.ipv6, pool.ipv6_ids = (b"".join(part) for part in lists)
        return pools

    def add(self, compact: bytes, peer_id: bytes, seeder: bool, now: int) -> None:
        """Pool a peer, if there is room; if not, it gets its turn at the next resample."""
        pools = (self.everyone,) if seeder else (self.everyone, self.leechers)
        for pool in pools:
            if len(pool) < self.size:
                pool.add(compact, peer_id)
            else:
                self.valid_until = min(self.valid_until, now + RESAMPLE_SECONDS)

    def remove(self, compact: bytes, peer_id: bytes, seeder: bool) -> None:
        self.everyone.remove(compact, peer_id)
        if not seeder:
            self.leechers.remove(compact, peer_id)

    def pick(
        self, own: bytes, own_id: bytes, seeder: bool, wanted: int, rng: random.Random
    ) -> PeerList:
        # A seeder has nothing to gain from other seeders.
        pool = self.leechers if seeder else self.everyone
        return pool.pick(own, own_id, wanted, rng)
