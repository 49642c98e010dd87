"""Release keys: the publish pipeline deposits them, owners fetch them from the unlock time."""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from library_api import family, payloads
from library_api.auth import caller, internal_caller
from library_api.errors import InvalidRequest, NotFound, Refused, Unprocessable
from library_api.release_keys import ALGORITHM, KeyWrapper, ReleaseKey, ReleaseKeyRepository
from library_api.request_body import json_object
from library_api.state import STORE
from library_api.store import Repositories
from peerpipe.logs import fields
from peerpipe.problems import Problem, problem_response
from signing.sealing import key_matches

log = logging.getLogger("library_api.release_keys")
KEYS = web.AppKey("library_release_key_wrapper", KeyWrapper)
HEX_KEY = re.compile(r"[0-9a-f]{64}")
RELEASE_MAX = 2**31 - 1


def _release(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= RELEASE_MAX:
        raise InvalidRequest("INVALID_RELEASE", "release must be a positive integer")
    return int(text)


def _unlock_at(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidRequest("INVALID_UNLOCK_AT", "unlock_at must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest("INVALID_UNLOCK_AT", "unlock_at is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise InvalidRequest("INVALID_UNLOCK_AT", "unlock_at needs a UTC offset")
    return moment.astimezone(UTC)


def _deposit(game: str, release: int, body: dict[str, Any]) -> ReleaseKey:
    payloads.reject_unknown(body, {"key", "unlock_at", "key_check"})
    key, check = body.get("key"), body.get("key_check")
    if not isinstance(key, str) or HEX_KEY.fullmatch(key.lower()) is None:
        raise InvalidRequest("INVALID_KEY", "key must be 64 hex digits (a 256-bit key)")
    if not isinstance(check, str) or HEX_KEY.fullmatch(check.lower()) is None:
        raise InvalidRequest("INVALID_KEY_CHECK", "key_check must be 64 hex digits")
    unlock_at = _unlock_at(body.get("unlock_at"))
    raw = bytes.fromhex(key)
    # The manifest's key check is what agents test the key against: a key that fails it
    # would open nothing, so it is refused before it can be stored.
    if not key_matches(raw, check.lower()):
        raise Unprocessable("KEY_CHECK_MISMATCH", "the key does not match key_check")
    return ReleaseKey(game, release, raw, unlock_at, check.lower())


async def put_release_key(request: web.Request) -> web.Response:
    by = internal_caller(request)
    game = payloads.game_id(request.match_info["game_id"])
    release = _release(request.match_info["release"])
    wanted = _deposit(game, release, await json_object(request))
    async with request.app[STORE].transaction() as repos:
        stored, created = await _keys(request, repos).store(wanted)
    log.info(
        "release key stored" if created else "release key already stored",
        extra=fields(game_id=game, release=release, unlock_at=wanted.unlock_at, by=by.user_id),
    )
    return web.json_response(stored.to_json(), status=201 if created else 200)


def _keys(request: web.Request, repos: Repositories) -> ReleaseKeyRepository:
    return ReleaseKeyRepository(repos.session, request.app[KEYS])


async def _may_play(repos: Repositories, user: str, game: str) -> bool:
    """The access check's rule: the user's own copy, or a family owner's shareable one."""
    own = await repos.ownership.find(user, game)
    if own is not None and own.owned:
        return True
    return await family.shared_copy(repos.session, user, game) is not None


async def get_release_key(request: web.Request) -> web.Response:
    """The key, to the caller only (no ``user_id``: nobody fetches keys for someone else)."""
    user = caller(request).user_id
    game, release = request.match_info["game_id"], _release(request.match_info["release"])
    async with request.app[STORE].transaction() as repos:
        # Ownership first: a non-owner must not learn whether the release has a key at all.
        if not await _may_play(repos, user, game):
            raise Refused("NOT_OWNER", f"user {user} may not play {game}")
        found = await _keys(request, repos).find(game, release)
    if found is None:
        raise NotFound("RELEASE_KEY_NOT_FOUND", f"release {release} of {game} has no key")
    now = datetime.now(UTC)
    if now < found.unlock_at:
        return _locked(request, found, now)
    log.info("release key handed out", extra=fields(user_id=user, game_id=game, release=release))
    body = {"key": found.key.hex(), "alg": ALGORITHM, "unlock_at": found.unlock_at.isoformat()}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _locked(request: web.Request, found: ReleaseKey, now: datetime) -> web.Response:
    wait = max(1, math.ceil((found.unlock_at - now).total_seconds()))
    problem = Problem(
        425,
        "Too Early",
        f"release {found.release} of {found.game_id} unlocks at {found.unlock_at.isoformat()}",
        code="RELEASE_LOCKED",
        unlock_at=found.unlock_at.isoformat(),
    )
    response = problem_response(problem, request.path)
    response.headers["Retry-After"] = str(wait)
    return response


def add_routes(app: web.Application, base: str, platform_key: str) -> None:
    """Register before the user routes' ``/{game_id}`` catch-all."""
    app[KEYS] = KeyWrapper(platform_key)
    app.router.add_put(f"{base}/internal/release-keys/{{game_id}}/{{release}}", put_release_key)
    app.router.add_get(f"{base}/{{game_id}}/releases/{{release}}/key", get_release_key)
