"""Platform identity: JWT bearer tokens with a role, minted with the platform key.

An external auth service can take over by publishing a public key
(``PEERPIPE_JWT_PUBLIC_KEY_FILE``): tokens signed with it (RS256/ES256/EdDSA) are accepted
beside the platform's own HS256 tokens.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

ISSUER = "peerpipe"


class Role(enum.StrEnum):
    USER = "user"
    SUPPORT = "support"
    ADMIN = "admin"
    SERVICE = "service"


class TokenError(Exception):
    """A bearer token is missing, malformed, expired or not signed by a trusted key."""


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: Role


def mint_token(platform_key: str, user_id: str, role: Role, ttl_seconds: int = 86400) -> str:
    """A token for ``user_id`` acting as ``role``, valid for ``ttl_seconds``."""
    if not user_id or len(user_id) > 128:
        raise TokenError("user id must be 1 to 128 characters")
    now = int(time.time())
    claims = {
        "sub": user_id,
        "role": str(role),
        "iss": ISSUER,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, platform_key, algorithm="HS256")


class TokenVerifier:
    """Checks bearer tokens against the platform key and an optional external public key."""

    def __init__(self, platform_key: str, public_key_file: Path | None = None) -> None:
        self._platform_key = platform_key
        self._public_key = public_key_file.read_text() if public_key_file else None

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from None
        algorithm = header.get("alg", "")
        if algorithm == "HS256":
            key = self._platform_key
        elif self._public_key and algorithm in {"RS256", "ES256", "EdDSA"}:
            key = self._public_key
        else:
            raise TokenError(f"token algorithm {algorithm!r} is not accepted")
        try:
            claims = jwt.decode(
                token, key, algorithms=[algorithm], options={"require": ["sub", "exp"]}
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token has expired") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        try:
            role = Role(claims.get("role", "user"))
        except ValueError:
            raise TokenError(f"unknown role {claims.get('role')!r}") from None
        return Identity(user_id=str(claims["sub"]), role=role)

    def verify_header(self, authorization: str | None) -> Identity:
        """Verify an ``Authorization: Bearer …`` header value."""
        if not authorization:
            raise TokenError("missing Authorization: Bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError("Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())
