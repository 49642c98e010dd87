"""Who is calling: bearer tokens checked against the platform key, roles for internal calls."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from aiohttp import web

from peerpipe.problems import Problem
from peerpipe.tokens import Identity, Role, TokenError, TokenVerifier

CACHED_TOKENS = 10_000


class CachingVerifier(TokenVerifier):
    """Remembers the bearer headers it verified until their tokens expire: a player's client
    sends the same one with every heartbeat, and checking a signature costs more than the
    heartbeat itself."""

    def __init__(self, platform_key: str, public_key_file: Path | None = None) -> None:
        super().__init__(platform_key, public_key_file)
        self._verified: dict[str, tuple[Identity, float]] = {}

    def verify_header(self, authorization: str | None) -> Identity:
        if authorization:
            known = self._verified.get(authorization)
            if known is not None and known[1] > time.time():
                return known[0]
        identity = super().verify_header(authorization)
        assert authorization is not None, "a verified request carries its header"
        expires = _expiry(authorization.partition(" ")[2].strip())
        if expires is not None:
            if len(self._verified) >= CACHED_TOKENS:
                self._verified.clear()
            self._verified[authorization] = (identity, expires)
        return identity


def _expiry(token: str) -> float | None:
    """The ``exp`` claim of a token whose signature was just verified (so no second check)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    expires = claims.get("exp") if isinstance(claims, dict) else None
    return float(expires) if isinstance(expires, int | float) else None


VERIFIER = web.AppKey("library_verifier", TokenVerifier)
INTERNAL_ROLES = frozenset({Role.SERVICE, Role.ADMIN})
SUPPORT_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})
ADMIN_ROLES = frozenset({Role.ADMIN})


def caller(request: web.Request) -> Identity:
    """The verified identity behind the request, or a 401 problem."""
    try:
        return request.app[VERIFIER].verify_header(request.headers.get("Authorization"))
    except TokenError as exc:
        raise Problem(401, "Unauthorized", str(exc), code="UNAUTHORIZED") from None


def internal_caller(request: web.Request) -> Identity:
    """A caller with the service or admin role, or a 401/403 problem."""
    identity = caller(request)
    if identity.role not in INTERNAL_ROLES:
        raise Problem(
            403,
            "Forbidden",
            f"internal endpoints need the service or admin role, not {identity.role}",
            code="FORBIDDEN",
        )
    return identity


def acting_for(request: web.Request, *, writes: bool = False) -> str:
    """Whose data the request reads or changes.

    A player always their own; support may read (``?user_id=``) anyone's, an admin may also
    change it. Anyone else naming another user gets a 403, never the data.
    """
    identity = caller(request)
    target = request.query.get("user_id")
    if target is None or target == identity.user_id:
        return identity.user_id
    allowed = ADMIN_ROLES if writes else SUPPORT_ROLES
    if identity.role not in allowed:
        action = "change" if writes else "read"
        raise Problem(
            403,
            "Forbidden",
            f"a {identity.role} may not {action} another user's data",
            code="FORBIDDEN",
        )
    return target
