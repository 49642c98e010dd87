"""When the CDN's web seeds join a download (sans-IO).

Web seeds (BEP 19) are fast but costly, and libtorrent fetches from them nearly in order, so
players who start together would all fetch the same pieces from the CDN and have nothing to
trade. The swarm (other players plus the CDN's BitTorrent seed, which hands out pieces rarest
first) is therefore given the download first; web seeds come in only while the swarm falls
short: no BitTorrent source at all, pieces nobody in the swarm has, or a rate below the
target for a sustained while. They leave again once the swarm has delivered well above the
target for a while (hysteresis keeps them from flapping).

Every byte the CDN sends of a piece some player already holds is a byte the players could
have traded, so the download's intake from CDN nodes is also throttled, to a trickle, while
other players hold every piece it lacks and deliver the target rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OffloadPolicy:
    target_rate: int  # bytes/s the swarm should deliver before the CDN fills in
    grace_seconds: float = 1.0  # time for the swarm to connect before it is judged
    patience_seconds: float = 3.0  # sustained shortfall before web seeds come in
    calm_seconds: float = 6.0  # sustained surplus before web seeds leave
    surplus: float = 1.25  # "well above the target"


@dataclass(frozen=True)
class SwarmSample:
    at: float  # monotonic seconds
    swarm_rate: int  # payload bytes/s from BitTorrent sources (peers and CDN BT seed)
    swarm_sources: int  # BitTorrent connections with at least one piece we lack
    unavailable_pieces: int  # pieces we lack that no connected BitTorrent source has
    # BitTorrent connections that have shown no piece yet (still handshaking, or new peers)
    waiting_sources: int = 0


class OffloadController:
    """Decides, sample by sample, whether the download's web seeds should be on."""

    def __init__(self, policy: OffloadPolicy, started_at: float, p2p_enabled: bool) -> None:
        self._policy = policy
        self._started_at = started_at
        self._p2p = p2p_enabled
        self.web_seeds_on = not p2p_enabled
        self._short_since: float | None = None
        self._surplus_since: float | None = None

    def observe(self, sample: SwarmSample) -> bool:
        if not self._p2p:
            self.web_seeds_on = True
            return True
        policy = self._policy
        if sample.at - self._started_at < policy.grace_seconds:
            return self.web_seeds_on
        lacking = sample.swarm_sources == 0 or sample.unavailable_pieces > 0
        short = lacking or sample.swarm_rate < policy.target_rate
        plenty = not lacking and sample.swarm_rate >= policy.target_rate * policy.surplus
        self._short_since = (self._short_since or sample.at) if short else None
        self._surplus_since = (self._surplus_since or sample.at) if plenty else None
        if not self.web_seeds_on and short:
            waited = sample.at - self._short_since if self._short_since is not None else 0.0
            # nobody to fetch from and nobody on the way: no reason to wait
            alone = sample.swarm_sources == 0 and sample.waiting_sources == 0
            if alone or waited >= policy.patience_seconds:
                self.web_seeds_on = True
        elif (
            self.web_seeds_on
            and plenty
            and self._surplus_since is not None
            and sample.at - self._surplus_since >= policy.calm_seconds
        ):
            self.web_seeds_on = False
        return self.web_seeds_on


def cdn_intake_limit(fresh_pieces: int, peer_rate: int, target_rate: int, share: float) -> int:
    """Bytes/s a download may take from CDN nodes (0: no limit).

    ``fresh_pieces`` are the pieces it lacks that no connected player holds: only the CDN
    can send those, at any rate it can. With none left and players delivering the target,
    the CDN is held to ``share`` of the target, enough to keep its requests moving (a
    connection throttled to nothing would hold the blocks it was asked for) but little
    enough that the download takes what it lacks from the players."""
    if target_rate <= 0 or fresh_pieces > 0 or peer_rate < target_rate:
        return 0
    return max(1, int(target_rate * share))


def unavailable_pieces(have: Sequence[bool], sources: Iterable[Sequence[bool]]) -> int:
    """How many pieces we lack that none of ``sources`` (their piece bitfields) has."""
    missing = {index for index, present in enumerate(have) if not present}
    for pieces in sources:
        if not missing:
            break
        missing = {index for index in missing if index < len(pieces) and not pieces[index]}
    return len(missing)


def useful_sources(have: Sequence[bool], sources: Iterable[Sequence[bool]]) -> int:
    """How many of ``sources`` have at least one piece we lack."""
    count = 0
    for pieces in sources:
        if any(p and not h for p, h in zip(pieces, have, strict=False)):
            count += 1
    return count
