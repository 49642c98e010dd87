"""A CDN node keeps its trust metadata fresh by itself."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from peerpipe.config import Config
from peerpipe.service import start_app
from seeder.cdn import create_app
from signing import TrustRepository, generate_key, load_signer, save_private_key


def _expires(raw: bytes) -> datetime:
    stamp = json.loads(raw)["signed"]["expires"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def _timestamp(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.read()


async def test_node_re_signs_an_expired_timestamp_by_itself(tmp_path: Path, config: Config) -> None:
    admin_key = tmp_path / "admin.pem"
    save_private_key(generate_key(), admin_key, None)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    TrustRepository(config.trust_dir, clock=lambda: two_days_ago).init(
        [load_signer(admin_key, None)]
    )
    node = await start_app(create_app(config, seed=False))
    url = f"{node.url}/metadata/timestamp.json"
    try:
        deadline = time.monotonic() + 20
        served = await _timestamp(url)
        while _expires(served) <= datetime.now(UTC):
            assert time.monotonic() < deadline, "the node kept serving an expired timestamp"
            await asyncio.sleep(0.1)
            served = await _timestamp(url)
    finally:
        await node.stop()
    assert _expires(served) > datetime.now(UTC) + timedelta(hours=1)
