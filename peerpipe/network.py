"""A whole PeerPipe network on loopback: every service a real ``peerpipe`` process.

Used by ``peerpipe demo`` and by the end-to-end tests, so both exercise the real entry points.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from peerpipe.service import free_port
from peerpipe.tokens import Role, mint_token

# The CDN node gets an address of its own inside the loopback range, as a real CDN has one
# apart from the players: agents tell its bytes from their peers' by address and can cap them.
CDN_HOST = "127.0.0.2"


class NetworkError(RuntimeError):
    """A service did not start or a set-up step failed; the message says which and why."""


@dataclass
class ServiceProcess:
    name: str
    process: asyncio.subprocess.Process
    url: str
    log_path: Path


@dataclass
class AgentHandle:
    user: str
    url: str
    data_dir: Path
    install_dir: Path
    service: ServiceProcess

    def api_token(self) -> str:
        return (self.data_dir / "api.token").read_text().strip()


@dataclass
class LocalNetwork:
    """Library API, tracker and CDN seeder on free loopback ports, state under ``root``."""

    root: Path
    cdn_http_rate_limit: int = 0
    cdn_upload_rate_limit: int = 0
    platform_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    key_passphrase: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    services: list[ServiceProcess] = field(default_factory=list)
    library_url: str = ""
    tracker_url: str = ""
    seeder_url: str = ""

    @property
    def platform_dir(self) -> Path:
        return self.root / "platform"

    @property
    def trust_dir(self) -> Path:
        return self.platform_dir / "trust"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEERPIPE_")}
        env.update(
            {
                "PEERPIPE_DATA_DIR": str(self.platform_dir),
                "PEERPIPE_PLATFORM_KEY": self.platform_key,
                "PEERPIPE_KEY_PASSPHRASE": self.key_passphrase,
                "PEERPIPE_LOG_LEVEL": "INFO",
                "PEERPIPE_LIBRARY_URL": self.library_url,
                "PEERPIPE_TRACKER_URL": self.tracker_url,
                "PEERPIPE_SEEDER_PUBLIC_URL": self.seeder_url,
                "PEERPIPE_CDN_URLS": self.seeder_url,
            }
        )
        return env

    async def start(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        library_port, tracker_port = free_port(), free_port()
        seeder_port = free_port(CDN_HOST)
        self.library_url = f"http://127.0.0.1:{library_port}"
        self.tracker_url = f"http://127.0.0.1:{tracker_port}"
        self.seeder_url = f"http://{CDN_HOST}:{seeder_port}"
        ports = {
            "PEERPIPE_LIBRARY_PORT": str(library_port),
            "PEERPIPE_TRACKER_PORT": str(tracker_port),
            "PEERPIPE_SEEDER_HOST": CDN_HOST,
            "PEERPIPE_SEEDER_PORT": str(seeder_port),
            "PEERPIPE_SEEDER_BT_PORT": str(free_port(CDN_HOST)),
            "PEERPIPE_SEEDER_HTTP_RATE_LIMIT": str(self.cdn_http_rate_limit),
            "PEERPIPE_SEEDER_UPLOAD_RATE_LIMIT": str(self.cdn_upload_rate_limit),
        }
        starts = [
            self._spawn("library", ["library", "serve"], self.library_url, ports),
            self._spawn("tracker", ["tracker", "serve"], self.tracker_url, ports),
            self._spawn("seeder", ["seeder", "serve"], self.seeder_url, ports),
        ]
        self.services.extend(await asyncio.gather(*starts))
        await asyncio.gather(*(wait_healthy(service) for service in self.services))

    async def run_cli(self, *argv: str, env: Mapping[str, str] | None = None) -> str:
        """Run one ``peerpipe`` command to completion; its stdout, or NetworkError."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "peerpipe",
            *argv,
            env={**self.base_env(), **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            message = (stderr or stdout).decode(errors="replace").strip().splitlines()
            last = message[-1] if message else "no output"
            raise NetworkError(f"peerpipe {' '.join(argv)} failed ({process.returncode}): {last}")
        return stdout.decode()

    def user_token(self, user: str) -> str:
        return mint_token(self.platform_key, user, Role.USER)

    async def start_agent(self, user: str) -> AgentHandle:
        data_dir = self.root / "agents" / user
        install_dir = data_dir / "games"
        port = free_port()
        env = {
            "PEERPIPE_AGENT_PORT": str(port),
            "PEERPIPE_AGENT_DATA_DIR": str(data_dir),
            "PEERPIPE_AGENT_INSTALL_DIR": str(install_dir),
            "PEERPIPE_TRUSTED_ROOT": str(self.trust_dir / "metadata" / "1.root.json"),
            "PEERPIPE_USER_TOKEN": self.user_token(user),
        }
        url = f"http://127.0.0.1:{port}"
        service = await self._spawn(f"agent-{user}", ["agent", "serve"], url, env)
        self.services.append(service)
        await wait_healthy(service)
        return AgentHandle(user, url, data_dir, install_dir, service)

    async def _spawn(
        self, name: str, argv: list[str], url: str, env: Mapping[str, str]
    ) -> ServiceProcess:
        log_path = self.logs_dir / f"{name}.log"
        log_file = log_path.open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "peerpipe",
                *argv,
                env={**self.base_env(), **env},
                stdout=log_file,
                stderr=log_file,
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            log_file.close()
        return ServiceProcess(name, process, url, log_path)

    async def stop(self) -> None:
        for service in reversed(self.services):
            if service.process.returncode is None:
                service.process.terminate()
        for service in self.services:
            try:
                await asyncio.wait_for(service.process.wait(), timeout=10)
            except TimeoutError:
                service.process.kill()
                await service.process.wait()
        self.services.clear()


async def wait_healthy(service: ServiceProcess, deadline_s: float = 60.0) -> None:
    """Poll ``/health`` until it answers 200; NetworkError with the log's tail otherwise."""
    deadline = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if service.process.returncode is not None:
                break
            try:
                async with session.get(f"{service.url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    tail = service.log_path.read_text(errors="replace").strip().splitlines()[-5:]
    raise NetworkError(f"{service.name} did not become healthy: {' | '.join(tail)}")


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str,
    body: Mapping[str, Any] | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.request(method, url, json=body, headers=headers) as response:
        payload = await response.json(content_type=None)
        return response.status, payload
