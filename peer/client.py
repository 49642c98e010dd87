"""The command line's side of the agent API: one call per command, errors as one line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from peerpipe.config import Config

from .app import API_TOKEN_FILE


class AgentRefused(Exception):
    """The agent answered with a problem; the message is its detail."""


class AgentClient:
    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self._http = http
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        async with self._http.request(
            method, self._url + "/api/v1" + path, json=body, headers=self._headers
        ) as response:
            if response.status == 204:
                return {}
            data = await response.json(content_type=None)
            if response.status >= 400:
                detail = data.get("detail") or data.get("title") if isinstance(data, dict) else ""
                raise AgentRefused(f"agent answered {response.status}: {detail}")
            if not isinstance(data, dict):
                raise AgentRefused("agent answered with something other than a JSON object")
            return data


Command = Callable[[AgentClient], Awaitable[int]]


def run_command(config: Config, agent_url: str | None, command: Command) -> int:
    """Run ``command`` against the agent; unreachable agents and refusals are one line."""
    agent = config.agent
    url = (agent_url or f"http://{agent.host}:{agent.port}").rstrip("/")
    token_file = agent.data_dir / API_TOKEN_FILE
    try:
        token = token_file.read_text().strip()
    except OSError:
        print(f"error: no agent API token at {token_file}; is the agent running?", file=sys.stderr)
        return 2

    async def main() -> int:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            return await command(AgentClient(http, url, token))

    try:
        return asyncio.run(main())
    except AgentRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"error: agent at {url} unreachable: {exc}", file=sys.stderr)
        return 2
