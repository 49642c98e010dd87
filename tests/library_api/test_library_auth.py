"""Bearer tokens: missing or bad ones get 401, user tokens cannot reach internal endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from library_support import PLATFORM_KEY, Library, bearer

from peerpipe.tokens import Role, mint_token
from signing.sealing import key_check

RELEASE_KEY = bytes(range(32))

INTERNAL_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/library/internal/ownership", {"json": {"user_id": "u", "game_id": "g"}}),
    ("DELETE", "/api/v1/library/internal/ownership/u/g", {}),
    ("GET", "/api/v1/library/internal/access", {"params": {"user_id": "u", "game_id": "g"}}),
    ("PUT", "/api/v1/library/internal/catalog/g", {"json": {"title": "G", "publisher": "P"}}),
    (
        "PUT",
        "/api/v1/library/internal/release-keys/g/1",
        {
            "json": {
                "key": RELEASE_KEY.hex(),
                "unlock_at": "2030-01-01T00:00:00Z",
                "key_check": key_check(RELEASE_KEY),
            }
        },
    ),
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


def _acting_operations() -> list[tuple[str, str]]:
    from library_api.openapi import PATHS

    found = []
    for path, operations in PATHS.items():
        for method, operation in operations.items():
            if (
                method != "parameters"
                and any(
                    parameter["name"] == "user_id" and parameter["in"] == "query"
                    for parameter in operation["parameters"]
                )
                and "/internal/" not in path
            ):
                found.append((method.upper(), path))
    return found


ACTING = _acting_operations()


def test_every_user_endpoint_takes_part_in_the_idor_test() -> None:
    from library_api.openapi import PATHS

    user_endpoints = {
        (method.upper(), path)
        for path, operations in PATHS.items()
        for method, operation in operations.items()
        if method != "parameters" and operation["security"] and "/internal/" not in path
    }
    # These always act on the caller: there is no way to even name another user.
    own_only = {
        ("GET", "/api/v1/library/passkey"),
        ("POST", "/api/v1/library/passkey/rotate"),
        ("GET", "/api/v1/library/ws"),
        # Release keys go to the caller only; support and admins cannot fetch one for anyone.
        ("GET", "/api/v1/library/{game_id}/releases/{release}/key"),
    }
    assert user_endpoints - set(ACTING) == own_only


async def test_no_user_reaches_another_users_data(library: Library) -> None:
    """IDOR over every user endpoint: naming another user is refused before anything runs."""
    await library.grant("alice", "space-game")
    for method, template in ACTING:
        path = template.format(
            game_id="space-game", name="rpg", member_id="alice", save_id="x" * 32
        )
        reads = method == "GET" or path.endswith("/download-url")
        for role, expected in ((Role.USER, 403), (Role.SUPPORT, None if reads else 403)):
            status, body, _ = await library.call(
                method, path, bearer("bob", role), params={"user_id": "alice"}, json={}
            )
            if expected is None:
                assert status != 403, (method, path)
            else:
                assert status == expected and body["code"] == "FORBIDDEN", (method, path, status)
