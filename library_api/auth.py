"""Who is calling: bearer tokens checked against the platform key, roles for internal calls."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
from aiohttp import web

from peerpipe.problems import Problem
from peerpipe.tokens import Identity, Role, TokenError, TokenVerifier

CACHED_TOKENS = 10_000


class CachingVerifier(TokenVerifier):
    """Remembers tokens it verified until they expire: a player's client sends the same one
    with every heartbeat, and checking a signature costs more than the heartbeat itself."""

    def __init__(self, platform_key: str, public_key_file: Path | None = None) -> None:
        super().__init__(platform_key, public_key_file)
        self._verified: dict[str, tuple[Identity, float]] = {}

    def verify(self, token: str) -> Identity:
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        identity = super().verify(token)
        expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if isinstance(expires, int | float):
            if len(self._verified) >= CACHED_TOKENS:
                self._verified.clear()
            self._verified[token] = (identity, float(expires))
        return identity


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
