"""Publishing a build folder: origin layout, signed manifest, idempotent republish, registration."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from seeder_helpers import GAME, PASSPHRASE, BuildMaker, random_bytes

from peerpipe.config import Config
from peerpipe.service import free_port, start_app
from peerpipe.tokens import Role, TokenVerifier
from seeder import PublishError, RegistrationError, publish_release
from signing import ReleaseManifest, ReleasePointer, TrustRepository

FILES = {
    "bin/game": random_bytes(700_000, 1),
    "data/level1.pak": random_bytes(1_500_000, 2),
    "readme.txt": b"hello",
}


def publish(build: Path, key: Path, config: Config, version: str = "1.0.0", **kw: Any) -> Any:
    return publish_release(build, GAME, version, key, PASSPHRASE, config, register=False, **kw)


def test_publish_puts_the_release_in_the_origin_and_signs_it(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    build = make_build(FILES)
    os.chmod(build / "bin/game", 0o755)
    stages: set[str] = set()
    result = publish(build, publisher_key, config, progress=lambda s, d, t: stages.add(s))
    manifest = result.manifest
    assert result.created and manifest.release == 1 and manifest.version == "1.0.0"
    assert result.target_path == f"games/{GAME}/1/manifest.json"
    assert stages == {"chunking", "hashing", "uploading"}
    assert [f.path for f in manifest.files] == ["bin/game", "data/level1.pak", "readme.txt"]
    assert manifest.files[0].mode == 0o755
    assert manifest.total_size == sum(len(data) for data in FILES.values())
    origin = config.seeder.origin_dir
    for described in manifest.files:
        stored = (origin / "files" / GAME / "1" / described.path).read_bytes()
        assert stored == FILES[described.path]
        assert hashlib.sha256(stored).hexdigest() == described.sha256
        for chunk in described.chunks:
            chunk_bytes = (origin / "chunks" / chunk.sha256[:2] / chunk.sha256).read_bytes()
            assert chunk_bytes == stored[chunk.offset : chunk.offset + chunk.size]
    torrent = (origin / "torrents" / GAME / "1.torrent").read_bytes()
    assert torrent == manifest.torrent.data
    assert TrustRepository(config.trust_dir).latest_release(GAME) == 1
    signed = list((config.trust_dir / "targets" / "games" / GAME / "1").glob("*manifest.json"))
    assert [ReleaseManifest.from_json(path.read_bytes()) for path in signed] == [manifest]


def test_republishing_the_same_build_returns_the_existing_release(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    first = publish(make_build(FILES), publisher_key, config)
    again = publish(make_build(FILES), publisher_key, config)
    assert not again.created
    assert again.manifest == first.manifest
    assert TrustRepository(config.trust_dir).latest_release(GAME) == 1


def test_a_new_version_or_new_content_is_a_new_release(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    publish(make_build(FILES), publisher_key, config)
    renamed = publish(make_build(FILES), publisher_key, config, version="1.0.1")
    assert renamed.created and renamed.manifest.release == 2
    patched = dict(FILES, **{"readme.txt": b"hello, patched"})
    third = publish(make_build(patched), publisher_key, config, version="1.0.1")
    assert third.manifest.release == 3
    # Unchanged files keep their chunks: a patch reuses everything but the edited file.
    assert third.manifest.files[:2] == renamed.manifest.files[:2]
    assert third.manifest.torrent.info_hash_v2 != renamed.manifest.torrent.info_hash_v2


def test_a_wrong_passphrase_is_refused_before_anything_is_written(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    with pytest.raises(PublishError, match="cannot load the publisher key"):
        publish_release(
            make_build(FILES), GAME, "1", publisher_key, b"wrong", config, register=False
        )
    assert not config.seeder.origin_dir.exists()


def test_a_game_the_publisher_does_not_own_is_refused(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    with pytest.raises(PublishError, match="signing the release failed"):
        publish_release(
            make_build(FILES),
            "other-game",
            "1",
            publisher_key,
            PASSPHRASE,
            config,
            register=False,
        )
    assert not (config.seeder.origin_dir / "torrents").exists()


def test_an_unsafe_file_name_is_refused_before_anything_is_written(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    with pytest.raises(PublishError, match="cannot be published"):
        publish(make_build({"C:evil.txt": b"x"}), publisher_key, config)
    assert not config.seeder.origin_dir.exists()


async def test_publish_registers_the_swarm_and_the_catalog_entry(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    received: list[tuple[str, str, dict[str, Any], Role]] = []
    verifier = TokenVerifier(config.platform_key)

    async def record(request: web.Request) -> web.Response:
        identity = verifier.verify_header(request.headers.get("Authorization"))
        received.append((request.method, request.path, await request.json(), identity.role))
        return web.json_response({}, status=201 if request.method == "POST" else 200)

    services = web.Application()
    services.router.add_post("/api/v1/admin/swarms", record)
    services.router.add_put("/api/v1/library/internal/catalog/{game}", record)
    running = await start_app(services)
    try:
        wired = replace(
            config,
            tracker=replace(config.tracker, public_url=running.url),
            library=replace(config.library, public_url=running.url),
        )
        result = await asyncio.to_thread(
            publish_release,
            make_build(FILES),
            GAME,
            "2.0",
            publisher_key,
            PASSPHRASE,
            wired,
            "Space Miner",
        )
    finally:
        await running.stop()
    torrent = result.manifest.torrent
    assert received == [
        (
            "POST",
            "/api/v1/admin/swarms",
            {
                "game_id": GAME,
                "release": 1,
                "info_hash_v1": torrent.info_hash_v1,
                "info_hash_v2": torrent.info_hash_v2,
            },
            Role.SERVICE,
        ),
        (
            "PUT",
            f"/api/v1/library/internal/catalog/{GAME}",
            {"title": "Space Miner", "publisher": "acme"},
            Role.SERVICE,
        ),
    ]


def test_an_unreachable_tracker_is_a_clear_error(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    wired = replace(config, tracker=replace(config.tracker, public_url=dead))
    with pytest.raises(RegistrationError, match=r"published but not registered.*unreachable"):
        publish_release(make_build(FILES), GAME, "1", publisher_key, PASSPHRASE, wired)


def test_an_interrupted_publish_stops_its_workers_and_publishes_nothing(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    build = make_build({f"pack{i}.pak": random_bytes(3_000_000, 40 + i) for i in range(4)})

    def interrupt(stage: str, done: int, total: int) -> None:
        if stage == "chunking" and done > 0:
            raise KeyboardInterrupt  # the publisher pressed Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        publish(build, publisher_key, config, progress=interrupt)
    assert TrustRepository(config.trust_dir).latest_release(GAME) is None
    assert not (config.seeder.origin_dir / "torrents").exists()
    # Whatever reached the origin is whole, and no temporary file is left behind.
    release_dir = config.seeder.origin_dir / "files" / GAME / "1"
    stored = [path for path in release_dir.rglob("*") if path.is_file()]
    for path in stored:
        assert not path.name.startswith(".tmp-")
        assert path.read_bytes() == (build / path.relative_to(release_dir)).read_bytes()


def test_a_critical_release_and_its_changelog_are_signed_into_latest_json(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    publish(make_build(FILES), publisher_key, config)
    patched = dict(FILES, **{"readme.txt": b"hello, fixed"})
    notes = "Security fix.\nPlease update."
    publish(make_build(patched), publisher_key, config, "1.0.1", critical=True, changelog=notes)
    folder = config.trust_dir / "targets" / "games" / GAME
    pointers = [ReleasePointer.from_json(p.read_bytes()) for p in folder.glob("*latest.json")]
    latest = max(pointers, key=lambda pointer: pointer.release)
    assert (latest.release, latest.critical, latest.changelog) == (2, True, notes)
    assert not min(pointers, key=lambda pointer: pointer.release).critical


def test_a_changelog_the_pointer_cannot_hold_is_refused_before_anything_is_written(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    with pytest.raises(PublishError, match="control characters"):
        publish(make_build(FILES), publisher_key, config, changelog="bell\x07")
    assert not (config.seeder.origin_dir / "files").exists()
