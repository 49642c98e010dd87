"""Who gets a peer list: rate limits, bans, registration and ownership, for HTTP and UDP alike.

The transports parse requests into :class:`Announce` and hand them here; a refusal is a
:class:`Refusal` whose reason the transport sends back as its failure message.

Most announces need no I/O at all: the bans, the swarm's registration and the owner's access
answer are cached, and the in-process store answers at once. :func:`answer_announce_at_once`
answers those without a task or an await; the others go through :func:`answer_announce`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from typing import Any, NoReturn

from peerpipe.logs import fields
from tracker.access import AccessChecker
from tracker.access_cache import AccessDecision
from tracker.announce import Announce, AnnounceReply, PeerList, SwarmStats
from tracker.bans import BanList
from tracker.errors import SwarmFull, UnknownSwarm
from tracker.state import TrackerState
from tracker.swarm_store import NOT_CACHED, Swarm

log = logging.getLogger("tracker.gate")


class Refusal(Exception):
    """An announce or scrape answered with a failure reason; ``result`` labels the metric."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


def _bans_fresh(state: TrackerState) -> bool:
    return time.monotonic() - state.bans_fetched_at < state.options.ban_refresh_seconds


async def _ban_list(state: TrackerState) -> BanList:
    if not _bans_fresh(state):
        state.ban_list = BanList(await state.backend.store.bans())
        state.bans_fetched_at = time.monotonic()
    return state.ban_list


def _admit_with(
    state: TrackerState, bans: BanList, passkey: str, peer_id: bytes | None, ip: str
) -> None:
    limited = state.backend.limiter.hit(passkey, ip)
    if limited is not None:
        raise Refusal("limited", limited)
    banned = bans.refusal(passkey, peer_id, ip) if bans else None
    if banned is not None:
        raise Refusal("banned", banned)


async def admit(state: TrackerState, passkey: str, peer_id: bytes | None, ip: str) -> None:
    """Refuse floods and banned announcers before anything costlier is asked."""
    bans = await _ban_list(state)
    _admit_with(state, bans, passkey, peer_id, ip)


def _checker(state: TrackerState) -> AccessChecker:
    if state.access is None:
        raise RuntimeError("the tracker app has not been started")
    return state.access


def _registered(swarm: Swarm | None) -> Swarm:
    if swarm is None:
        raise Refusal("unregistered", "info_hash is not registered with this tracker")
    return swarm


def _refuse_access(swarm: Swarm, decision: AccessDecision) -> NoReturn:
    log.info(
        "announce refused",
        extra=fields(game_id=swarm.game_id, user_id=decision.user_id, reason=decision.reason),
    )
    raise Refusal("refused", f"access denied: {decision.reason}")


def _reply(state: TrackerState, stats: SwarmStats, peers: PeerList) -> AnnounceReply:
    tracker_config = state.config.tracker
    return AnnounceReply(
        tracker_config.announce_interval,
        min(tracker_config.min_announce_interval, tracker_config.announce_interval),
        stats,
        peers,
    )


def answer_announce_at_once(
    state: TrackerState, passkey: str, announce: Announce, ip: str
) -> AnnounceReply | Coroutine[Any, Any, AnnounceReply] | None:
    """The reply from what is cached in this process, without I/O where the store needs none.

    With bans, the swarm's registration and the owner's access answer cached, the announce is
    admitted or refused (:class:`Refusal`) at once; the reply follows at once from a store that
    needs no I/O, or else is a coroutine awaiting the store's round trip. None, having done
    nothing, if something is not cached: :func:`answer_announce` then does it all.
    """
    store = state.backend.store
    if time.monotonic() - state.bans_fetched_at >= state.options.ban_refresh_seconds:
        return None
    swarm = store.cached_swarm(announce.info_hash)
    if swarm is NOT_CACHED:
        return None
    decision = None
    if swarm is not None:
        checker = _checker(state)
        # The common case read here: an answer before its refresh point needs nothing else.
        cached = checker.answers.get((passkey, swarm.game_id))
        if cached is not None and checker.clock() < cached.refresh_at:
            decision = cached.decision
        else:
            decision = checker.cached(passkey, swarm.game_id)
            if decision is None:
                return None
    _admit_with(state, state.ban_list, passkey, announce.peer_id, ip)
    if swarm is None or decision is None:
        raise Refusal("unregistered", "info_hash is not registered with this tracker")
    if not decision.allowed:
        _refuse_access(swarm, decision)
    owner = decision.user_id or passkey
    if not store.answers_at_once:
        return _stored(state, announce, ip, owner)
    try:
        answer = store.announce_at_once(announce, ip, owner)
    except UnknownSwarm as exc:
        raise Refusal("unregistered", str(exc)) from None
    except SwarmFull as exc:
        raise Refusal("full", str(exc)) from None
    if answer is None:
        raise RuntimeError("a store that answers at once did not")
    return _reply(state, *answer)


async def _stored(state: TrackerState, announce: Announce, ip: str, owner: str) -> AnnounceReply:
    try:
        stats, peers = await state.backend.store.announce(announce, ip, owner)
    except UnknownSwarm as exc:
        raise Refusal("unregistered", str(exc)) from None
    except SwarmFull as exc:
        raise Refusal("full", str(exc)) from None
    return _reply(state, stats, peers)


async def answer_announce(
    state: TrackerState, passkey: str, announce: Announce, ip: str
) -> AnnounceReply:
    """The reply to a parsed announce from ``ip``, or :class:`Refusal`."""
    await admit(state, passkey, announce.peer_id, ip)
    swarm = _registered(await state.backend.store.swarm(announce.info_hash))
    decision = await _checker(state).check(passkey, swarm.game_id)
    if not decision.allowed:
        _refuse_access(swarm, decision)
    return await _stored(state, announce, ip, decision.user_id or passkey)


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
