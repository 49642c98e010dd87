from __future__ import annotations

import time

import jwt
import pytest

from peerpipe.tokens import Role, TokenError, TokenVerifier, mint_token

KEY = "k" * 48


def test_minted_token_verifies_with_user_and_role() -> None:
    identity = TokenVerifier(KEY).verify_header(f"Bearer {mint_token(KEY, 'alice', Role.ADMIN)}")
    assert identity.user_id == "alice"
    assert identity.role is Role.ADMIN


def test_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(TokenError, match="invalid token"):
        TokenVerifier(KEY).verify(mint_token("x" * 48, "alice", Role.USER))


def test_expired_token_is_refused() -> None:
    claims = {"sub": "alice", "role": "user", "exp": int(time.time()) - 5}
    with pytest.raises(TokenError, match="expired"):
        TokenVerifier(KEY).verify(jwt.encode(claims, KEY, algorithm="HS256"))


def test_unknown_role_is_refused() -> None:
    claims = {"sub": "alice", "role": "root", "exp": int(time.time()) + 60}
    with pytest.raises(TokenError, match="unknown role"):
        TokenVerifier(KEY).verify(jwt.encode(claims, KEY, algorithm="HS256"))


def test_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(TokenError, match="not accepted"):
        TokenVerifier(KEY).verify(token)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "garbage"])
def test_malformed_authorization_headers_are_refused(header: str | None) -> None:
    with pytest.raises(TokenError):
        TokenVerifier(KEY).verify_header(header)
