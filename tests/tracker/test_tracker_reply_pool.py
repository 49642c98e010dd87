"""Reply pools: a reply is a slice of the swarm's pooled peers, never the announcer itself."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tracker.reply_pool import PeerPool

entries = st.lists(
    st.tuples(st.booleans(), st.integers(0, 2**16 - 1), st.binary(min_size=20, max_size=20)),
    max_size=60,
    unique_by=lambda entry: entry[2],
)


def compact(ipv6: bool, port: int) -> bytes:
    return (bytes(15) + b"\x01" if ipv6 else b"\x0a\x00\x00\x01") + port.to_bytes(2, "big")


@given(entries, st.integers(0, 59), st.integers(0, 80), st.integers(0, 2**32))
def test_a_pick_holds_pooled_peers_only_never_the_announcer(
    pooled: list[tuple[bool, int, bytes]], own_at: int, wanted: int, seed: int
) -> None:
    pool = PeerPool()
    for ipv6, port, peer_id in pooled:
        pool.add(compact(ipv6, port), peer_id)
    own = pooled[own_at] if own_at < len(pooled) else (False, 1, b"\xff" * 20)
    picked = pool.pick(compact(own[0], own[1]), own[2], wanted, random.Random(seed))
    found = [(":" in peer.ip, peer.port, peer.peer_id) for peer in picked]
    others = [entry for entry in pooled if entry[2] != own[2]]
    assert len(found) == min(wanted, len(others))
    assert len(set(found)) == len(found)
    assert set(found) <= set(others)
    if len(pool) > 0:
        pool.remove(compact(pooled[0][0], pooled[0][1]), pooled[0][2])
        assert len(pool) == len(pooled) - 1
