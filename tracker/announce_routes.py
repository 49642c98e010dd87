"""HTTP announce and scrape: thin handlers around the sans-IO cores and :mod:`tracker.gate`."""

from __future__ import annotations

import ipaddress
import logging
import re
import time

from aiohttp import web

from peerpipe.logs import fields
from tracker.announce import encode_announce_reply, encode_failure, parse_announce, peer_address
from tracker.errors import AnnounceError
from tracker.gate import Refusal, answer_announce, answer_scrape
from tracker.scrape import encode_scrape_reply, parse_scrape
from tracker.state import STATE, TrackerState

log = logging.getLogger("tracker.announce")

_PASSKEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
_HEADERS = {"Cache-Control": "no-store"}


def _bencoded(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/plain", headers=_HEADERS)


def _passkey(request: web.Request) -> str:
    passkey = request.match_info["passkey"]
    if not _PASSKEY.fullmatch(passkey):
        raise Refusal("invalid", "malformed passkey in the announce URL")
    return passkey


def _remote_ip(request: web.Request) -> str:
    remote = request.remote or ""
    if remote and ":" not in remote:
        return remote  # the socket's own IPv4 text is already canonical; skip parsing it
    try:
        return str(peer_address(remote))
    except ValueError:
        raise Refusal("invalid", "cannot tell the address this request came from") from None


def is_trusted_proxy(state: TrackerState, ip: str) -> bool:
    if not state.trusted_proxies:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in network for network in state.trusted_proxies)


def _client_ip(state: TrackerState, request: web.Request, claimed: str | None) -> str:
    """The announcer's address: the socket's, unless a trusted proxy tells us otherwise."""
    remote = _remote_ip(request)
    if not is_trusted_proxy(state, remote):
        return remote  # ip= and X-Forwarded-For from anyone else are ignored
    if claimed is not None:
        return claimed
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    try:
        return str(peer_address(forwarded)) if forwarded else remote
    except ValueError:
        raise Refusal("invalid", "the proxy sent an unreadable X-Forwarded-For") from None


async def announce(request: web.Request) -> web.Response:
    state = request.app[STATE]
    started = time.perf_counter()
    try:
        passkey = _passkey(request)
        try:
            parsed = parse_announce(
                request.rel_url.raw_query_string, state.config.tracker.max_numwant
            )
        except AnnounceError as exc:
            raise Refusal("invalid", str(exc)) from None
        ip = _client_ip(state, request, parsed.ip)
        reply = await answer_announce(state, passkey, parsed, ip)
        body = encode_announce_reply(reply, parsed.compact, parsed.no_peer_id)
        result = "ok"
    except Refusal as refusal:
        body, result = encode_failure(refusal.reason), refusal.result
    except Exception:
        log.exception("announce failed", extra=fields(path=request.path))
        body, result = encode_failure("internal tracker error; try again later"), "error"
    state.metrics.announce_result(result, "http").inc()
    state.metrics.announce_seconds.observe(time.perf_counter() - started)
    return _bencoded(body)


async def missing_passkey(request: web.Request) -> web.Response:
    """``/announce`` without a passkey: the torrent file's bare URL, used by mistake."""
    request.app[STATE].metrics.announces.labels("invalid", "http").inc()
    return _bencoded(
        encode_failure("this is a private tracker: announce to /<your passkey>/announce")
    )


async def scrape(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        passkey = _passkey(request)
        try:
            wanted = parse_scrape(request.rel_url.raw_query_string)
        except AnnounceError as exc:
            raise Refusal("invalid", str(exc)) from None
        files = await answer_scrape(state, passkey, wanted, _client_ip(state, request, None))
        body, result = encode_scrape_reply(files), "ok"
    except Refusal as refusal:
        body, result = encode_failure(refusal.reason), refusal.result
    except Exception:
        log.exception("scrape failed", extra=fields(path=request.path))
        body, result = encode_failure("internal tracker error; try again later"), "error"
    state.metrics.scrapes.labels(result, "http").inc()
    return _bencoded(body)
