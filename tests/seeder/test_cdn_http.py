"""The CDN node's HTTP face: Range semantics (checked against aiohttp's own static file
serving), chunks, trust metadata, path traversal, health and the serving rate limit."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import aiohttp
import pytest
from aiohttp import web
from seeder_helpers import GAME, put_objects, random_bytes
from yarl import URL

from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app
from seeder import create_app
from seeder.origin_settings import SeederOriginSettings

DATA = random_bytes(100_000, seed=7)
SECRET = b"TOP-SECRET-OUTSIDE-THE-ORIGIN"


@dataclass
class Node:
    cdn: RunningApp
    reference: RunningApp  # aiohttp's web.FileResponse serving the same file
    config: Config
    session: aiohttp.ClientSession


def _populate(config: Config) -> None:
    release_dir = config.seeder.origin_dir / "files" / GAME / "1" / "data"
    release_dir.mkdir(parents=True)
    (release_dir / "level.pak").write_bytes(DATA)
    sha = hashlib.sha256(b"chunk bytes").hexdigest()
    chunk = config.seeder.origin_dir / "chunks" / sha[:2] / sha
    chunk.parent.mkdir(parents=True)
    chunk.write_bytes(b"chunk bytes")
    (config.trust_dir / "metadata").mkdir(parents=True)
    (config.trust_dir / "metadata" / "1.root.json").write_bytes(b'{"signed":{}}')
    (config.trust_dir / "targets" / "games").mkdir(parents=True)
    (config.trust_dir / "targets" / "games" / "x.json").write_bytes(b"{}")
    (config.data_dir / "secret.txt").write_bytes(SECRET)
    # A symlink planted inside the origin must not lead out of it.
    (release_dir / "link").symlink_to(config.data_dir / "secret.txt")


async def _mirror_to_s3(config: Config, settings: SeederOriginSettings) -> Config:
    """The same origin in a bucket (under the settings' prefix), a secret object just outside
    it, and a node configuration whose local origin folder is empty."""
    origin = config.seeder.origin_dir
    objects = {
        settings.prefix + path.relative_to(origin).as_posix(): path.read_bytes()
        for path in origin.rglob("*")
        if path.is_file() and not path.is_symlink()
    }
    objects["secret.txt"] = SECRET
    objects[f"{settings.prefix}files/secret.txt"] = SECRET
    await put_objects(settings, objects)
    return replace(config, seeder=replace(config.seeder, origin_dir=config.data_dir / "empty"))


async def _start(
    config: Config, s3: SeederOriginSettings | None = None
) -> tuple[RunningApp, RunningApp]:
    _populate(config)
    node_config = await _mirror_to_s3(config, s3) if s3 else config
    cdn = await start_app(create_app(node_config, seed=False, origin=s3))
    path = config.seeder.origin_dir / "files" / GAME / "1" / "data" / "level.pak"

    async def static(_: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    reference = web.Application()
    reference.router.add_get("/file", static)
    return cdn, await start_app(reference)


@pytest.fixture(params=["local", "s3"])
async def node(request: pytest.FixtureRequest, config: Config) -> AsyncIterator[Node]:
    """A CDN node on each origin store: a local folder, and a bucket on an S3-protocol server."""
    s3 = request.getfixturevalue("s3_settings") if request.param == "s3" else None
    cdn, reference = await _start(config, s3)
    async with aiohttp.ClientSession() as session:
        yield Node(cdn, reference, config, session)
    await cdn.stop()
    await reference.stop()


FILE = f"/files/{GAME}/1/data/level.pak"


@pytest.mark.parametrize(
    "range_header",
    [
        None,
        "bytes=0-99",
        "bytes=0-0",
        "bytes=100-",
        "bytes=-500",
        "bytes=-200000",  # suffix longer than the file: the whole file, 206
        "bytes=99990-200000",  # end past the file: clamped
        "bytes=100000-",  # starts at the end: 416
        "bytes=500000-600000",  # past the end: 416
        "bytes=abc",  # malformed: 416
        "bytes=10-5",  # ends before it starts: 416
        "bytes=-",  # malformed: 416
    ],
)
async def test_range_answers_match_aiohttp_static_files(
    node: Node, range_header: str | None
) -> None:
    headers = {"Range": range_header} if range_header else {}
    async with node.session.get(node.cdn.url + FILE, headers=headers) as ours:
        our_body = await ours.read()
    async with node.session.get(node.reference.url + "/file", headers=headers) as theirs:
        their_body = await theirs.read()
    assert ours.status == theirs.status
    assert ours.headers.get("Content-Range") == theirs.headers.get("Content-Range")
    if ours.status != 416:
        assert our_body == their_body
        assert int(ours.headers["Content-Length"]) == len(our_body)
        assert ours.headers["Accept-Ranges"] == "bytes"


async def test_if_range_with_an_old_date_serves_everything_like_aiohttp(node: Node) -> None:
    headers = {"Range": "bytes=0-9", "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"}
    async with node.session.get(node.cdn.url + FILE, headers=headers) as ours:
        assert ours.status == 200 and await ours.read() == DATA
    async with node.session.get(node.reference.url + "/file", headers=headers) as theirs:
        assert theirs.status == 200


async def test_if_range_with_the_current_etag_honours_the_range(node: Node) -> None:
    async with node.session.head(node.cdn.url + FILE) as head:
        etag = head.headers["ETag"]
        assert head.headers["Content-Length"] == str(len(DATA))
    async with node.session.get(
        node.cdn.url + FILE, headers={"Range": "bytes=10-19", "If-Range": etag}
    ) as response:
        assert response.status == 206 and await response.read() == DATA[10:20]
    async with node.session.get(
        node.cdn.url + FILE, headers={"Range": "bytes=10-19", "If-Range": '"stale"'}
    ) as response:
        assert response.status == 200 and await response.read() == DATA


async def test_another_range_unit_is_ignored(node: Node) -> None:
    async with node.session.get(node.cdn.url + FILE, headers={"Range": "items=0-5"}) as response:
        assert response.status == 200 and await response.read() == DATA


async def test_several_ranges_come_back_as_multipart_byteranges(node: Node) -> None:
    headers = {"Range": "bytes=0-9, 50-59, -5"}
    async with node.session.get(node.cdn.url + FILE, headers=headers) as response:
        assert response.status == 206
        assert response.content_type == "multipart/byteranges"
        reader = aiohttp.MultipartReader.from_response(response)
        parts = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            parts.append((part.headers["Content-Range"], await part.read()))
    assert parts == [
        ("bytes 0-9/100000", DATA[0:10]),
        ("bytes 50-59/100000", DATA[50:60]),
        ("bytes 99995-99999/100000", DATA[-5:]),
    ]


async def test_chunks_are_immutable_with_their_hash_as_strong_etag(node: Node) -> None:
    sha = hashlib.sha256(b"chunk bytes").hexdigest()
    async with node.session.get(f"{node.cdn.url}/chunks/{sha}") as response:
        assert response.status == 200 and await response.read() == b"chunk bytes"
        assert response.headers["ETag"] == f'"{sha}"'
        assert "immutable" in response.headers["Cache-Control"]
        assert "max-age=31536000" in response.headers["Cache-Control"]
    async with node.session.get(
        f"{node.cdn.url}/chunks/{sha}", headers={"If-None-Match": f'"{sha}"'}
    ) as response:
        assert response.status == 304
    async with node.session.get(f"{node.cdn.url}/chunks/{'0' * 64}") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
    async with node.session.get(f"{node.cdn.url}/chunks/NOTHEX") as response:
        assert response.status == 400


async def test_trust_metadata_and_targets_are_served(node: Node) -> None:
    async with node.session.get(f"{node.cdn.url}/metadata/1.root.json") as response:
        assert response.status == 200 and await response.read() == b'{"signed":{}}'
        assert response.headers["Cache-Control"] == "no-cache"
    async with node.session.get(f"{node.cdn.url}/targets/games/x.json") as response:
        assert response.status == 200 and await response.read() == b"{}"


@pytest.mark.parametrize(
    "raw_path",
    [
        f"/files/{GAME}/1/../../../../secret.txt",
        f"/files/{GAME}/1/..%2F..%2F..%2F..%2Fsecret.txt",
        f"/files/{GAME}/1/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        f"/files/{GAME}/1/data%5C..%5C..%5C..%5C..%5Csecret.txt",
        f"/files/{GAME}/1/data/level.pak%00.txt",
        f"/files/{GAME}/1/data/link",
        f"/files/{GAME}/1//etc/passwd",
        "/files/..%2F..%2F/1/secret.txt",
        f"/files/{GAME}/%2e%2e/secret.txt",
        "/metadata/..%2F..%2Fsecret.txt",
        "/metadata/%2e%2e/%2e%2e/secret.txt",
        "/targets/..%2F..%2Fsecret.txt",
        "/chunks/..%2F..%2Fsecret.txt",
    ],
)
async def test_path_traversal_never_serves_a_byte_outside(node: Node, raw_path: str) -> None:
    url = URL(node.cdn.url + raw_path, encoded=True)
    async with node.session.get(url) as response:
        body = await response.read()
    assert response.status in (400, 404)
    assert SECRET not in body


async def test_health_and_metrics(node: Node) -> None:
    async with node.session.get(f"{node.cdn.url}/health") as response:
        health = await response.json()
    assert health == {
        "status": "ok",
        "region": "local",
        "bt_port": None,
        "connections": 0,
        "load": 0.0,
    }
    async with node.session.get(node.cdn.url + FILE) as response:
        assert await response.read() == DATA
    async with node.session.get(f"{node.cdn.url}/metrics") as response:
        text = await response.text()
    assert 'peerpipe_cdn_bytes_sent_total{kind="files"}' in text


async def test_rate_limit_is_shared_by_all_responses(config: Config) -> None:
    limited = replace(config, seeder=replace(config.seeder, http_rate_limit=500_000))
    cdn, reference = await _start(limited)
    try:
        async with aiohttp.ClientSession() as session:

            async def fetch() -> bytes:
                async with session.get(cdn.url + FILE) as response:
                    return await response.read()

            started = time.monotonic()
            bodies = await asyncio.gather(*(fetch() for _ in range(4)))
            elapsed = time.monotonic() - started
        assert bodies == [DATA] * 4
        # 400 kB at 500 kB/s shared is 0.8 s, whatever the number of connections; the first
        # block (a tenth of a second of bandwidth) and the burst allowance go out at once.
        assert elapsed >= 0.6
    finally:
        await cdn.stop()
        await reference.stop()
