"""What HTTP announces and scrapes are answered, whichever HTTP server received them.

Both servers of the tracker call these: the lean announce listener (:mod:`tracker.http_server`)
and the aiohttp routes (:mod:`tracker.announce_routes`). An answer is the bencoded body, ready
at once when nothing needed I/O, or else a coroutine to await for it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Coroutine
from typing import Any

from peerpipe.logs import fields
from tracker.announce import (
    Announce,
    AnnounceReply,
    encode_announce_reply,
    encode_failure,
    parse_announce,
)
from tracker.errors import AnnounceError
from tracker.gate import Refusal, answer_announce, answer_announce_at_once, answer_scrape
from tracker.peer_list import peer_address
from tracker.scrape import encode_scrape_reply, parse_scrape
from tracker.state import TrackerState

log = logging.getLogger("tracker.announce")

_PASSKEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
MISSING_PASSKEY = "this is a private tracker: announce to /<your passkey>/announce"
INTERNAL_ERROR = "internal tracker error; try again later"

Answer = bytes | Coroutine[Any, Any, bytes]


def passkey_of(segment: str) -> str:
    """The passkey in the first path segment (already percent-decoded), or :class:`Refusal`."""
    if not _PASSKEY.fullmatch(segment):
        raise Refusal("invalid", "malformed passkey in the announce URL")
    return segment


def canonical_ip(remote: str) -> str:
    """The socket's address as peers are told it; IPv4 text is already canonical."""
    if remote and ":" not in remote:
        return remote
    try:
        return str(peer_address(remote))
    except ValueError:
        raise Refusal("invalid", "cannot tell the address this request came from") from None


def is_trusted_proxy(state: TrackerState, ip: str) -> bool:
    if not state.trusted_proxies:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in network for network in state.trusted_proxies)


def client_ip(
    state: TrackerState, remote: str, claimed: str | None, forwarded_for: str | None
) -> str:
    """The announcer's address: the socket's, unless a trusted proxy tells us otherwise."""
    ip = canonical_ip(remote)
    if not state.trusted_proxies or not is_trusted_proxy(state, ip):
        return ip  # ip= and X-Forwarded-For from anyone else are ignored
    if claimed is not None:
        return claimed
    forwarded = (forwarded_for or "").split(",")[-1].strip()
    try:
        return str(peer_address(forwarded)) if forwarded else ip
    except ValueError:
        raise Refusal("invalid", "the proxy sent an unreadable X-Forwarded-For") from None


def announce_answer(
    state: TrackerState,
    segment: str,
    raw_query: str | bytes,
    remote: str,
    forwarded_for: str | None,
) -> Answer:
    """The body for ``GET /<segment>/announce?<raw_query>`` from ``remote``."""
    started = time.perf_counter()
    try:
        passkey = passkey_of(segment)
        try:
            parsed = parse_announce(raw_query, state.config.tracker.max_numwant)
        except AnnounceError as exc:
            raise Refusal("invalid", str(exc)) from None
        if state.trusted_proxies or ":" in remote or not remote:
            ip = client_ip(state, remote, parsed.ip, forwarded_for)
        else:
            ip = remote  # IPv4 from the socket: canonical already, and no proxy to believe
        reply = answer_announce_at_once(state, passkey, parsed, ip)
        if reply is None:
            return _announce_later(
                state, answer_announce(state, passkey, parsed, ip), parsed, started
            )
        if not isinstance(reply, AnnounceReply):
            return _announce_later(state, reply, parsed, started)
        body = encode_announce_reply(reply, parsed.compact, parsed.no_peer_id)
        result = "ok"
    except Refusal as refusal:
        body, result = encode_failure(refusal.reason), refusal.result
    except Exception:
        log.exception("announce failed", extra=fields(segment=segment[:16]))
        body, result = encode_failure(INTERNAL_ERROR), "error"
    state.metrics.announces.record(result, "http", time.perf_counter() - started)
    return body


async def _announce_later(
    state: TrackerState,
    replied: Coroutine[Any, Any, AnnounceReply],
    parsed: Announce,
    started: float,
) -> bytes:
    try:
        reply = await replied
        body = encode_announce_reply(reply, parsed.compact, parsed.no_peer_id)
        result = "ok"
    except Refusal as refusal:
        body, result = encode_failure(refusal.reason), refusal.result
    except Exception:
        log.exception("announce failed", extra=fields(info_hash=parsed.info_hash.hex()))
        body, result = encode_failure(INTERNAL_ERROR), "error"
    state.metrics.announces.record(result, "http", time.perf_counter() - started)
    return body


def scrape_answer(
    state: TrackerState,
    segment: str,
    raw_query: str | bytes,
    remote: str,
    forwarded_for: str | None,
) -> Answer:
    """The body for ``GET /<segment>/scrape?<raw_query>`` from ``remote``."""
    try:
        passkey = passkey_of(segment)
        try:
            wanted = parse_scrape(raw_query)
        except AnnounceError as exc:
            raise Refusal("invalid", str(exc)) from None
        ip = client_ip(state, remote, None, forwarded_for)
    except Refusal as refusal:
        state.metrics.scrapes.labels(refusal.result, "http").inc()
        return encode_failure(refusal.reason)
    return _scrape_later(state, passkey, wanted, ip)


async def _scrape_later(
    state: TrackerState, passkey: str, wanted: tuple[bytes, ...], ip: str
) -> bytes:
    try:
        files = await answer_scrape(state, passkey, wanted, ip)
        body, result = encode_scrape_reply(files), "ok"
    except Refusal as refusal:
        body, result = encode_failure(refusal.reason), refusal.result
    except Exception:
        log.exception("scrape failed", extra=fields(ip=ip))
        body, result = encode_failure(INTERNAL_ERROR), "error"
    state.metrics.scrapes.labels(result, "http").inc()
    return body


def missing_passkey_answer(state: TrackerState) -> bytes:
    """``/announce`` without a passkey: the torrent file's bare URL, used by mistake."""
    state.metrics.announces.record("invalid", "http")
    return encode_failure(MISSING_PASSKEY)
