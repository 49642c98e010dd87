"""Who gets a peer list: rate limits, bans, registration and ownership, for HTTP and UDP alike.

The transports parse requests into :class:`Announce` and hand them here; a refusal is a
:class:`Refusal` whose reason the transport sends back as its failure message.
"""

from __future__ import annotations

import logging
import time

from peerpipe.logs import fields
from tracker.access import AccessChecker
from tracker.announce import Announce, AnnounceReply, SwarmStats
from tracker.bans import BanList
from tracker.errors import SwarmFull, UnknownSwarm
from tracker.state import TrackerState

log = logging.getLogger("tracker.gate")


class Refusal(Exception):
    """An announce or scrape answered with a failure reason; ``result`` labels the metric."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


async def _ban_list(state: TrackerState) -> BanList:
    now = time.monotonic()
    if now - state.bans_fetched_at >= state.options.ban_refresh_seconds:
        state.ban_list = BanList(await state.backend.store.bans())
        state.bans_fetched_at = now
    return state.ban_list


async def admit(state: TrackerState, passkey: str, peer_id: bytes | None, ip: str) -> None:
    """Refuse floods and banned announcers before anything costlier is asked."""
    limited = await state.backend.limiter.hit(passkey, ip)
    if limited is not None:
        raise Refusal("limited", limited)
    banned = (await _ban_list(state)).refusal(passkey, peer_id, ip)
    if banned is not None:
        raise Refusal("banned", banned)


def _checker(state: TrackerState) -> AccessChecker:
    if state.access is None:
        raise RuntimeError("the tracker app has not been started")
    return state.access


async def answer_announce(
    state: TrackerState, passkey: str, announce: Announce, ip: str
) -> AnnounceReply:
    """The reply to a parsed announce from ``ip``, or :class:`Refusal`."""
    await admit(state, passkey, announce.peer_id, ip)
    store = state.backend.store
    swarm = await store.swarm(announce.info_hash)
    if swarm is None:
        raise Refusal("unregistered", "info_hash is not registered with this tracker")
    decision = await _checker(state).check(passkey, swarm.game_id)
    if not decision.allowed:
        log.info(
            "announce refused",
            extra=fields(game_id=swarm.game_id, user_id=decision.user_id, reason=decision.reason),
        )
        raise Refusal("refused", f"access denied: {decision.reason}")
    try:
        stats, peers = await store.announce(announce, ip, decision.user_id or passkey)
    except UnknownSwarm as exc:
        raise Refusal("unregistered", str(exc)) from None
    except SwarmFull as exc:
        raise Refusal("full", str(exc)) from None
    tracker_config = state.config.tracker
    return AnnounceReply(
        interval=tracker_config.announce_interval,
        min_interval=min(tracker_config.min_announce_interval, tracker_config.announce_interval),
        stats=stats,
        peers=peers,
    )


async def answer_scrape(
    state: TrackerState, passkey: str, wanted: tuple[bytes, ...], ip: str
) -> dict[bytes, SwarmStats]:
    """Counts for the hashes in ``wanted`` the passkey's owner may see, or :class:`Refusal`."""
    await admit(state, passkey, None, ip)
    store = state.backend.store
    games: dict[bytes, str] = {}
    for info_hash in wanted:
        swarm = await store.swarm(info_hash)
        if swarm is not None:
            games[info_hash] = swarm.game_id
    if not games:
        raise Refusal("unregistered", "none of the info-hashes is registered with this tracker")
    refusal = ""
    allowed: list[bytes] = []
    for game_id in dict.fromkeys(games.values()):
        decision = await _checker(state).check(passkey, game_id)
        if decision.allowed:
            allowed.extend(h for h, game in games.items() if game == game_id)
        else:
            refusal = decision.reason
    if not allowed:
        raise Refusal("refused", f"access denied: {refusal}")
    return await store.stats(allowed)
