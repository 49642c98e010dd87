"""Cloud saves on an S3-protocol server (moto's server mode on loopback): real presigned URLs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from library_support import TEST_OPTIONS, Library, bearer, library_config

from library_api import create_app
from library_api.options import S3Settings
from peerpipe.service import free_port, start_app

moto_server = pytest.importorskip("moto.server")
BASE = "/api/v1/library/savegames"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3_library(tmp_path: Path, database_url: str, s3_endpoint: str) -> AsyncIterator[Library]:
    settings = S3Settings(
        endpoint_url=s3_endpoint, bucket=f"saves-{tmp_path.name[-12:].lower().replace('_', '-')}",
        access_key="test", secret_key="test",
    )  # fmt: skip
    config = library_config(tmp_path, database_url)
    running = await start_app(create_app(config, replace(TEST_OPTIONS, s3=settings)))
    try:
        async with aiohttp.ClientSession() as http:
            yield Library(url=running.url, http=http, config=config)
    finally:
        await running.stop()


async def test_saves_travel_through_s3_presigned_urls(
    s3_library: Library, s3_endpoint: str
) -> None:
    library = s3_library
    await library.grant("alice", "space-game")
    data = b"a save kept in S3"
    meta = {"game_id": "space-game", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    status, answer, _ = await library.call("POST", f"{BASE}/upload-url", bearer("alice"), json=meta)
    assert status == 201 and answer["upload"]["url"].startswith(s3_endpoint)
    assert "X-Amz-Signature=" in answer["upload"]["url"]
    save_id = answer["save"]["save_id"]
    status, problem, _ = await library.call(
        "POST", f"{BASE}/confirm-upload", bearer("alice"), json={"save_id": save_id}
    )
    assert status == 409 and problem["code"] == "SAVEGAME_NOT_UPLOADED"
    async with library.http.put(answer["upload"]["url"], data=data) as response:
        assert response.status == 200
    status, confirmed, _ = await library.call(
        "POST", f"{BASE}/confirm-upload", bearer("alice"), json={"save_id": save_id}
    )
    assert status == 200 and confirmed["save"]["version"] == 1
    status, download, _ = await library.call(
        "POST", f"{BASE}/download-url", bearer("alice"), json={"save_id": save_id}
    )
    async with library.http.get(download["download"]["url"]) as response:
        assert response.status == 200 and await response.read() == data
    # moto does not check signatures; that the URL is signed and expires is what we can see.
    assert "X-Amz-Expires=60" in download["download"]["url"]
