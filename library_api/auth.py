"""Who is calling: bearer tokens checked against the platform key, roles for internal calls."""

from __future__ import annotations

from aiohttp import web

from peerpipe.problems import Problem
from peerpipe.tokens import Identity, Role, TokenError, TokenVerifier

VERIFIER = web.AppKey("library_verifier", TokenVerifier)
INTERNAL_ROLES = frozenset({Role.SERVICE, Role.ADMIN})


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
