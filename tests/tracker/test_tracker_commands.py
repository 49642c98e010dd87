"""``peerpipe tracker serve`` runs the real service until it is told to stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from dataclasses import replace

import aiohttp
import pytest
from tracker_loopback import PLATFORM_KEY, REDIS_URL, redis_or_skip

from peerpipe.config import Config
from peerpipe.service import free_port
from tracker.commands import register, serve_tracker

SERVE = """
import argparse, sys
from peerpipe.config import Config
from tracker.commands import register
parser = argparse.ArgumentParser(prog="peerpipe")
register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args, Config.from_env()))
"""


def test_serve_is_registered_with_a_handler() -> None:
    parser = argparse.ArgumentParser(prog="peerpipe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tracker", "serve", "--port", "9999"])
    assert args.handler is serve_tracker
    assert args.port == 9999


def test_serve_without_platform_key_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(host=None, port=0)
    assert serve_tracker(args, Config()) == 1
    assert "platform key" in capsys.readouterr().err


async def test_serve_answers_until_terminated() -> None:
    port = free_port()
    env = {**os.environ, "PEERPIPE_PLATFORM_KEY": PLATFORM_KEY, "PEERPIPE_TRACKER_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVE, "tracker", "serve", env=env
    )
    try:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/health") as response:
                        assert (await response.json())["status"] == "ok"
                        break
                except aiohttp.ClientConnectionError:
                    assert process.returncode is None, "the tracker exited early"
                    assert time.monotonic() < deadline, "the tracker never started listening"
                    await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_serve_without_reachable_redis_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config(platform_key=PLATFORM_KEY)
    config = replace(
        config,
        tracker=replace(config.tracker, port=free_port(), redis_url="redis://127.0.0.1:1/0"),
    )
    assert serve_tracker(argparse.Namespace(host=None, port=None), config) == 1
    assert "cannot reach Redis" in capsys.readouterr().err


def test_several_workers_need_the_redis_store(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config(platform_key=PLATFORM_KEY)
    args = argparse.Namespace(host=None, port=free_port(), workers=2)
    assert serve_tracker(args, config) == 2
    assert "--workers above 1 needs PEERPIPE_REDIS_URL" in capsys.readouterr().err


async def test_several_workers_share_the_port_and_stop_together() -> None:
    await (await redis_or_skip()).aclose()
    port = free_port()
    env = {
        **os.environ,
        "PEERPIPE_PLATFORM_KEY": PLATFORM_KEY,
        "PEERPIPE_TRACKER_PORT": str(port),
        "PEERPIPE_REDIS_URL": REDIS_URL,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVE, "tracker", "serve", "--workers", "2", env=env
    )
    try:
        deadline = time.monotonic() + 30
        answered = 0
        async with aiohttp.ClientSession() as http:
            # Fresh connections, so the kernel spreads them over both workers.
            while answered < 20:
                try:
                    async with http.get(
                        f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}
                    ) as response:
                        assert (await response.json())["status"] == "ok"
                        answered += 1
                except aiohttp.ClientConnectionError:
                    assert process.returncode is None, "the tracker exited early"
                    assert time.monotonic() < deadline, "the tracker never started listening"
                    await asyncio.sleep(0.05)
        # Each worker listens on the port with its own socket (SO_REUSEPORT).
        while listening_sockets(port) < 2:
            assert time.monotonic() < deadline, "the second worker never listened"
            await asyncio.sleep(0.05)
        assert len(spawned_workers(process.pid)) == 1
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as http:
                await http.get(f"http://127.0.0.1:{port}/health")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def spawned_workers(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        children = [int(child) for child in handle.read().split()]
    workers = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as handle:
            if b"spawn_main" in handle.read():
                workers.append(child)
    return workers


def listening_sockets(port: int) -> int:
    with open("/proc/net/tcp") as handle:
        rows = [line.split() for line in handle.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")
