"""The admin API (bearer token, role admin or service): swarms, their peers, and bans."""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from peerpipe.logs import fields
from peerpipe.problems import Problem, json_body
from peerpipe.tokens import Identity, Role, TokenError
from tracker.bans import Ban, InvalidBan
from tracker.errors import SwarmConflict
from tracker.state import STATE
from tracker.swarm_store import PeerView, Swarm, SwarmReport

SWARMS = "/api/v1/admin/swarms"
BANS = "/api/v1/admin/bans"
MAX_PEERS_SHOWN = 1000

log = logging.getLogger("tracker.admin")

_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_OPERATORS = frozenset({Role.ADMIN, Role.SERVICE})
MAX_GAME_ID_LENGTH = 128


def _operator(request: web.Request) -> Identity:
    verifier = request.app[STATE].verifier
    try:
        identity = verifier.verify_header(request.headers.get("Authorization"))
    except TokenError as exc:
        raise Problem(401, "Unauthorized", str(exc), code="UNAUTHORIZED") from None
    if identity.role not in _OPERATORS:
        raise Problem(
            403, "Forbidden", "managing swarms needs the admin or service role", code="FORBIDDEN"
        )
    return identity


def _invalid(detail: str) -> Problem:
    return Problem(400, "Bad Request", detail, code="INVALID_SWARM")


def swarm_from_json(body: dict[str, Any]) -> Swarm:
    """The swarm a registration body describes, or a 400 problem naming the bad field."""
    game_id = body.get("game_id")
    if not isinstance(game_id, str) or not 0 < len(game_id) <= MAX_GAME_ID_LENGTH:
        raise _invalid(f"game_id must be a string of 1 to {MAX_GAME_ID_LENGTH} characters")
    release = body.get("release")
    if not isinstance(release, int) or isinstance(release, bool) or release < 1:
        raise _invalid("release must be a whole number of at least 1")
    info_hash_v1 = body.get("info_hash_v1")
    if not isinstance(info_hash_v1, str) or not _HEX40.fullmatch(info_hash_v1):
        raise _invalid("info_hash_v1 must be 40 hexadecimal digits")
    info_hash_v2 = body.get("info_hash_v2")
    if info_hash_v2 is not None and (
        not isinstance(info_hash_v2, str) or not _HEX64.fullmatch(info_hash_v2)
    ):
        raise _invalid("info_hash_v2 must be 64 hexadecimal digits (or null for v1-only)")
    return Swarm(
        game_id=game_id,
        release=release,
        info_hash_v1=bytes.fromhex(info_hash_v1),
        info_hash_v2=bytes.fromhex(info_hash_v2) if info_hash_v2 else None,
    )


def _report_json(report: SwarmReport) -> dict[str, int]:
    return {
        "seeders": report.seeders,
        "leechers": report.leechers,
        "completed": report.completed,
        "bytes_uploaded": report.bytes_uploaded,
        "bytes_downloaded": report.bytes_downloaded,
    }


async def _swarm_json(request: web.Request, swarm: Swarm) -> dict[str, Any]:
    store = request.app[STATE].backend.store
    reports = {info_hash: await store.report(info_hash) for info_hash in swarm.info_hashes}
    totals = {
        name: sum(_report_json(report)[name] for report in reports.values())
        for name in ("completed", "bytes_uploaded", "bytes_downloaded")
    }
    # A hybrid client announces under both hashes; its most-announced hash counts its peers.
    busiest = max(reports.values(), key=lambda report: report.seeders + report.leechers)
    return {
        "game_id": swarm.game_id,
        "release": swarm.release,
        "info_hash_v1": swarm.info_hash_v1.hex(),
        "info_hash_v2": swarm.info_hash_v2.hex() if swarm.info_hash_v2 else None,
        "announced_hashes": [info_hash.hex() for info_hash in swarm.info_hashes],
        "seeders": busiest.seeders,
        "leechers": busiest.leechers,
        **totals,
        "stats": {
            info_hash.hex(): {
                "complete": report.seeders,
                "incomplete": report.leechers,
                "downloaded": report.completed,
                **_report_json(report),
            }
            for info_hash, report in reports.items()
        },
    }


def _peer_json(view: PeerView, info_hash: bytes) -> dict[str, Any]:
    return {
        "info_hash": info_hash.hex(),
        "owner": view.owner_tag.hex(),
        "peer_id": view.peer_id.hex(),
        "client": view.peer_id[:8].decode("latin-1"),
        "ip": view.ip,
        "port": view.port,
        "seeder": view.seeder,
        "last_seen_seconds_ago": view.last_seen_age,
        "uploaded": view.uploaded,
        "downloaded": view.downloaded,
    }


async def register_swarm(request: web.Request) -> web.Response:
    identity = _operator(request)
    swarm = swarm_from_json(await json_body(request))
    try:
        created = await request.app[STATE].backend.store.register(swarm)
    except SwarmConflict as exc:
        raise Problem(409, "Conflict", str(exc), code="SWARM_CONFLICT") from None
    log.info(
        "swarm registered",
        extra=fields(
            game_id=swarm.game_id,
            release=swarm.release,
            info_hash=swarm.info_hash_v1.hex(),
            by=identity.user_id,
            new=created,
        ),
    )
    # Registering the same swarm again is harmless, so a retrying publisher sees the same answer.
    return web.json_response(await _swarm_json(request, swarm), status=201)


async def list_swarms(request: web.Request) -> web.Response:
    _operator(request)
    swarms = await request.app[STATE].backend.store.swarms()
    return web.json_response({"items": [await _swarm_json(request, swarm) for swarm in swarms]})


def _info_hash(request: web.Request) -> bytes:
    raw = request.match_info["info_hash"]
    if not _HEX40.fullmatch(raw):
        raise Problem(
            400, "Bad Request", "info-hash must be 40 hexadecimal digits", code="BAD_HASH"
        )
    return bytes.fromhex(raw)


async def show_swarm(request: web.Request) -> web.Response:
    _operator(request)
    store = request.app[STATE].backend.store
    swarm = await store.swarm(_info_hash(request))
    if swarm is None:
        raise Problem(404, "Not Found", "no swarm has this info-hash", code="SWARM_NOT_FOUND")
    try:
        limit = min(int(request.query.get("limit", "200")), MAX_PEERS_SHOWN)
    except ValueError:
        raise Problem(400, "Bad Request", "limit must be a number", code="BAD_LIMIT") from None
    peers: list[dict[str, Any]] = []
    for info_hash in swarm.info_hashes:
        views = await store.peers(info_hash, max(limit - len(peers), 0))
        peers.extend(_peer_json(view, info_hash) for view in views)
    return web.json_response({**await _swarm_json(request, swarm), "peers": peers})


async def add_ban(request: web.Request) -> web.Response:
    identity = _operator(request)
    body = await json_body(request)
    try:
        ban = Ban.create(
            str(body.get("kind", "")), str(body.get("value", "")), str(body.get("reason", ""))
        )
    except InvalidBan as exc:
        raise Problem(400, "Bad Request", str(exc), code="INVALID_BAN") from None
    await request.app[STATE].backend.store.add_ban(ban)
    request.app[STATE].bans_fetched_at = float("-inf")
    log.info("ban added", extra=fields(kind=str(ban.kind), value=ban.value, by=identity.user_id))
    return web.json_response(_ban_json(ban), status=201)


def _ban_json(ban: Ban) -> dict[str, str]:
    return {"kind": str(ban.kind), "value": ban.value, "reason": ban.reason}


async def list_bans(request: web.Request) -> web.Response:
    _operator(request)
    bans = await request.app[STATE].backend.store.bans()
    return web.json_response({"items": [_ban_json(ban) for ban in bans]})


def add_routes(app: web.Application) -> None:
    app.router.add_post(SWARMS, register_swarm)
    app.router.add_get(SWARMS, list_swarms)
    app.router.add_get(SWARMS + "/{info_hash}", show_swarm)
    app.router.add_delete(SWARMS + "/{info_hash}", remove_swarm)
    app.router.add_post(BANS, add_ban)
    app.router.add_get(BANS, list_bans)


async def remove_swarm(request: web.Request) -> web.Response:
    identity = _operator(request)
    swarm = await request.app[STATE].backend.store.unregister(_info_hash(request))
    if swarm is None:
        raise Problem(404, "Not Found", "no swarm has this info-hash", code="SWARM_NOT_FOUND")
    log.info(
        "swarm removed",
        extra=fields(game_id=swarm.game_id, release=swarm.release, by=identity.user_id),
    )
    return web.Response(status=204)
