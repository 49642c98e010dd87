"""HTTP announce and scrape: thin handlers around the sans-IO cores and the swarm store."""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web

from peerpipe.logs import fields
from tracker.announce import (
    AnnounceReply,
    encode_announce_reply,
    encode_failure,
    parse_announce,
    peer_address,
)
from tracker.errors import AnnounceError, UnknownSwarm
from tracker.scrape import encode_scrape_reply, parse_scrape
from tracker.state import STATE, TrackerState

log = logging.getLogger("tracker.announce")

_PASSKEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


class _Refusal(Exception):
    """An announce or scrape answered with a bencoded failure reason."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


def _bencoded(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/plain", headers={"Cache-Control": "no-store"})


def _passkey(request: web.Request) -> str:
    passkey = request.match_info["passkey"]
    if not _PASSKEY.fullmatch(passkey):
        raise _Refusal("invalid", "malformed passkey in the announce URL")
    return passkey


def _remote_ip(request: web.Request) -> str:
    remote = request.remote
    try:
        return str(peer_address(remote or ""))
    except ValueError:
        raise _Refusal("invalid", "cannot tell the address this request came from") from None


async def announce(request: web.Request) -> web.Response:
    state = request.app[STATE]
    started = time.perf_counter()
    try:
        body = await _answer_announce(state, request)
        result = "ok"
    except _Refusal as refusal:
        body, result = encode_failure(refusal.reason), refusal.result
    except Exception:
        log.exception("announce failed", extra=fields(path=request.path))
        body, result = encode_failure("internal tracker error; try again later"), "error"
    state.metrics.announces.labels(result).inc()
    state.metrics.announce_seconds.observe(time.perf_counter() - started)
    return _bencoded(body)


async def _answer_announce(state: TrackerState, request: web.Request) -> bytes:
    passkey = _passkey(request)
    try:
        request_announce = parse_announce(
            request.rel_url.raw_query_string, state.config.tracker.max_numwant
        )
    except AnnounceError as exc:
        raise _Refusal("invalid", str(exc)) from None
    swarm = await state.store.swarm(request_announce.info_hash)
    if swarm is None:
        raise _Refusal("unregistered", "info_hash is not registered with this tracker")
    decision = await state.access_checker.check(passkey, swarm.game_id)
    if not decision.allowed:
        log.info(
            "announce refused",
            extra=fields(game_id=swarm.game_id, user_id=decision.user_id, reason=decision.reason),
        )
        raise _Refusal("refused", f"access denied: {decision.reason}")
    try:
        stats, peers = await state.store.announce(request_announce, _remote_ip(request))
    except UnknownSwarm as exc:
        raise _Refusal("unregistered", str(exc)) from None
    tracker_config = state.config.tracker
    reply = AnnounceReply(
        interval=tracker_config.announce_interval,
        min_interval=min(tracker_config.min_announce_interval, tracker_config.announce_interval),
        stats=stats,
        peers=peers,
    )
    return encode_announce_reply(reply, request_announce.compact, request_announce.no_peer_id)


async def missing_passkey(request: web.Request) -> web.Response:
    """``/announce`` without a passkey: the torrent file's bare URL, used by mistake."""
    request.app[STATE].metrics.announces.labels("invalid").inc()
    return _bencoded(
        encode_failure("this is a private tracker: announce to /<your passkey>/announce")
    )


async def scrape(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = await _answer_scrape(state, request)
        result = "ok"
    except _Refusal as refusal:
        body, result = encode_failure(refusal.reason), refusal.result
    except Exception:
        log.exception("scrape failed", extra=fields(path=request.path))
        body, result = encode_failure("internal tracker error; try again later"), "error"
    state.metrics.scrapes.labels(result).inc()
    return _bencoded(body)


async def _answer_scrape(state: TrackerState, request: web.Request) -> bytes:
    passkey = _passkey(request)
    try:
        wanted = parse_scrape(request.rel_url.raw_query_string)
    except AnnounceError as exc:
        raise _Refusal("invalid", str(exc)) from None
    games: dict[bytes, str] = {}
    for info_hash in wanted:
        swarm = await state.store.swarm(info_hash)
        if swarm is not None:
            games[info_hash] = swarm.game_id
    if not games:
        raise _Refusal("unregistered", "none of the info-hashes is registered with this tracker")
    refusal = ""
    allowed: list[bytes] = []
    for game_id in dict.fromkeys(games.values()):
        decision = await state.access_checker.check(passkey, game_id)
        if decision.allowed:
            allowed.extend(h for h, game in games.items() if game == game_id)
        else:
            refusal = decision.reason
    if not allowed:
        raise _Refusal("refused", f"access denied: {refusal}")
    return encode_scrape_reply(await state.store.stats(allowed))
