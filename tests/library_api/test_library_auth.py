"""Bearer tokens: missing or bad ones get 401, user tokens cannot reach internal endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from library_support import PLATFORM_KEY, Library, bearer

from peerpipe.tokens import Role, mint_token

INTERNAL_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/library/internal/ownership", {"json": {"user_id": "u", "game_id": "g"}}),
    ("DELETE", "/api/v1/library/internal/ownership/u/g", {}),
    ("GET", "/api/v1/library/internal/access", {"params": {"user_id": "u", "game_id": "g"}}),
    ("PUT", "/api/v1/library/internal/catalog/g", {"json": {"title": "G", "publisher": "P"}}),
]


@pytest.mark.parametrize(("method", "path", "extra"), INTERNAL_CALLS)
async def test_internal_endpoints_refuse_user_tokens(
    library: Library, method: str, path: str, extra: dict[str, Any]
) -> None:
    for role in (Role.USER, Role.SUPPORT):
        status, body, content_type = await library.call(method, path, bearer("u", role), **extra)
        assert status == 403 and content_type == "application/problem+json"
        assert body["code"] == "FORBIDDEN"
    status, _, _ = await library.call(method, path, bearer("ops", Role.ADMIN), **extra)
    assert status in {200, 201, 204, 404}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": f"Bearer {mint_token('some-other-key-' + 'x' * 32, 'u', Role.USER)}"},
        {"Authorization": f"Bearer {mint_token(PLATFORM_KEY, 'u', Role.ADMIN, ttl_seconds=-10)}"},
    ],
)
async def test_missing_or_bad_tokens_get_401(library: Library, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/api/v1/library/"), ("GET", "/api/v1/library/passkey")):
        status, body, content_type = await library.call(method, path, headers)
        assert status == 401 and content_type == "application/problem+json"
        assert body["code"] == "UNAUTHORIZED" and body["detail"]
