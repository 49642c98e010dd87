"""The admin API over HTTP, for ``peerpipe admin swarms`` (an admin token from the platform key)."""

from __future__ import annotations

from typing import Any

import aiohttp

from peerpipe.tokens import Role, mint_token
from tracker.admin_routes import BANS, SWARMS
from tracker.errors import TrackerError


class AdminRequestFailed(TrackerError):
    """The tracker refused an admin request or could not be reached; the message says why."""


class TrackerAdminClient:
    def __init__(self, tracker_url: str, platform_key: str, timeout: float = 10.0) -> None:
        self._base = tracker_url.rstrip("/")
        token = mint_token(platform_key, "admin-cli", Role.ADMIN, ttl_seconds=300)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self._base + path
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(method, url, json=body, headers=self._headers) as response,
            ):
                if response.status == 204:
                    return None
                payload = await response.json(content_type=None)
                if response.status >= 400:
                    detail = payload.get("detail") if isinstance(payload, dict) else None
                    raise AdminRequestFailed(f"HTTP {response.status}: {detail or payload}")
                return payload
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise AdminRequestFailed(f"cannot reach the tracker at {self._base}: {exc}") from None

    async def swarms(self) -> list[dict[str, Any]]:
        answer = await self._call("GET", SWARMS)
        return list(answer["items"])

    async def swarm(self, info_hash: str, limit: int = 200) -> dict[str, Any]:
        answer: dict[str, Any] = await self._call("GET", f"{SWARMS}/{info_hash}?limit={limit}")
        return answer

    async def unregister(self, info_hash: str) -> None:
        await self._call("DELETE", f"{SWARMS}/{info_hash}")

    async def ban(self, kind: str, value: str, reason: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._call(
            "POST", BANS, {"kind": kind, "value": value, "reason": reason}
        )
        return answer
