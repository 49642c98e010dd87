"""The admin API: register, list and remove swarms (bearer token with role admin or service)."""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from peerpipe.logs import fields
from peerpipe.problems import Problem, json_body
from peerpipe.tokens import Identity, Role, TokenError
from tracker.errors import SwarmConflict
from tracker.state import STATE
from tracker.swarm_store import Swarm

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


async def _swarm_json(request: web.Request, swarm: Swarm) -> dict[str, Any]:
    stats = await request.app[STATE].store.stats(swarm.info_hashes)
    return {
        "game_id": swarm.game_id,
        "release": swarm.release,
        "info_hash_v1": swarm.info_hash_v1.hex(),
        "info_hash_v2": swarm.info_hash_v2.hex() if swarm.info_hash_v2 else None,
        "announced_hashes": [info_hash.hex() for info_hash in swarm.info_hashes],
        "stats": {
            info_hash.hex(): {
                "complete": counts.complete,
                "incomplete": counts.incomplete,
                "downloaded": counts.downloaded,
            }
            for info_hash, counts in stats.items()
        },
    }


async def register_swarm(request: web.Request) -> web.Response:
    identity = _operator(request)
    swarm = swarm_from_json(await json_body(request))
    try:
        created = await request.app[STATE].store.register(swarm)
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
    swarms = await request.app[STATE].store.swarms()
    return web.json_response({"items": [await _swarm_json(request, swarm) for swarm in swarms]})


async def remove_swarm(request: web.Request) -> web.Response:
    identity = _operator(request)
    raw = request.match_info["info_hash"]
    if not _HEX40.fullmatch(raw):
        raise Problem(
            400, "Bad Request", "info-hash must be 40 hexadecimal digits", code="BAD_HASH"
        )
    swarm = await request.app[STATE].store.unregister(bytes.fromhex(raw))
    if swarm is None:
        raise Problem(404, "Not Found", "no swarm has this info-hash", code="SWARM_NOT_FOUND")
    log.info(
        "swarm removed",
        extra=fields(game_id=swarm.game_id, release=swarm.release, by=identity.user_id),
    )
    return web.Response(status=204)
