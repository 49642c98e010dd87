"""The agent's side of the library API: access check, passkey, install status."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import jwt

from peerpipe.logs import fields

from .errors import AccessRefused, KeyRefused, LibraryUnavailable, ReleaseLocked

log = logging.getLogger("peerpipe.peer.library")


def token_subject(token: str) -> str:
    """The user id a token names, for messages only (the library verifies the token)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "unknown user"
    return str(claims.get("sub", "unknown user"))


class LibraryClient:
    """Talks to ``{library_url}/api/v1/library`` with the player's bearer token."""

    def __init__(self, http: aiohttp.ClientSession, library_url: str, user_token: str) -> None:
        self._http = http
        self._base = library_url.rstrip("/") + "/api/v1/library"
        self._token = user_token

    def _headers(self) -> dict[str, str]:
        if not self._token:
            raise LibraryUnavailable("no player token configured (set PEERPIPE_USER_TOKEN)")
        return {"Authorization": f"Bearer {self._token}"}

    async def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            async with self._http.get(self._base + path, headers=self._headers()) as response:
                body = await response.json(content_type=None)
                return response.status, body if isinstance(body, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LibraryUnavailable(f"library API at {self._base} unreachable: {exc}") from None

    async def check_access(self, game_id: str) -> dict[str, Any]:
        """The library entry of ``game_id``; AccessRefused when the player does not own it."""
        status, body = await self._get(f"/{game_id}")
        if status == 404:
            user = token_subject(self._token)
            raise AccessRefused(f"user {user} does not own game {game_id}")
        if status in (401, 403):
            raise LibraryUnavailable(f"library API rejected the player token: {_detail(body)}")
        if status != 200:
            raise LibraryUnavailable(f"library API answered {status}: {_detail(body)}")
        return body

    async def passkey(self) -> str:
        status, body = await self._get("/passkey")
        passkey = body.get("passkey")
        if status != 200 or not isinstance(passkey, str) or not passkey:
            raise LibraryUnavailable(f"library API gave no passkey ({status}): {_detail(body)}")
        return passkey

    async def release_key(self, game_id: str, release: int) -> bytes:
        """The key of a locked release; ReleaseLocked before its unlock time, KeyRefused
        when the player does not own the game."""
        status, body = await self._get(f"/{game_id}/releases/{release}/key")
        if status == 425:
            unlock_at = body.get("unlock_at")
            raise ReleaseLocked(_detail(body), unlock_at if isinstance(unlock_at, str) else None)
        if status == 403:
            raise KeyRefused(f"the library refuses the key of {game_id}: {_detail(body)}")
        key = body.get("key")
        if status != 200 or not isinstance(key, str):
            raise LibraryUnavailable(f"library API gave no release key ({status}): {_detail(body)}")
        try:
            return bytes.fromhex(key)
        except ValueError:
            raise LibraryUnavailable("library API sent a release key that is not hex") from None

    async def report_status(self, game_id: str, status: str) -> None:
        """Tell the library the install status; failures are logged, never fatal."""
        url = f"{self._base}/{game_id}"
        try:
            async with self._http.patch(
                url, json={"installation_status": status}, headers=self._headers()
            ) as response:
                if response.status >= 400:
                    log.warning(
                        "install status not accepted",
                        extra=fields(game_id=game_id, status=status, http=response.status),
                    )
        except (aiohttp.ClientError, TimeoutError, LibraryUnavailable) as exc:
            log.warning(
                "install status not reported",
                extra=fields(game_id=game_id, status=status, error=str(exc)),
            )


def _detail(body: dict[str, Any]) -> str:
    return str(body.get("detail") or body.get("title") or "no detail")
