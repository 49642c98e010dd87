"""publish --unlock-at: a locked release's new chunks reach the origin only sealed, its files
and torrent are held back, and its manifest names the sealed copies and the key check."""

from __future__ import annotations

import argparse
import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest
from seeder_helpers import GAME, PASSPHRASE, BuildMaker, random_bytes

from peerpipe.config import Config
from seeder import PublishError, publish_release
from seeder.commands import register
from signing.sealing import key_check, open_chunk

SECRET = b"THE-SECRET-ENDING-" * 20_000  # ~360 KiB that must not leak before the unlock
FILES = {"bin/game": random_bytes(600_000, 1), "data/level1.pak": random_bytes(900_000, 2)}


def publish(build: Path, key: Path, config: Config, version: str, **kw: Any) -> Any:
    return publish_release(build, GAME, version, key, PASSPHRASE, config, register=False, **kw)


def test_a_locked_release_stores_only_sealed_copies_of_its_new_chunks(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    publish(make_build(FILES), publisher_key, config, "1.0")
    patched = dict(FILES, **{"data/ending.pak": SECRET})
    result = publish(
        make_build(patched), publisher_key, config, "2.0", unlock_at="2030-01-01T18:00:00Z"
    )

    manifest = result.manifest
    assert manifest.unlock_at == "2030-01-01T18:00:00+00:00"
    assert result.release_key is not None
    assert manifest.key_check == key_check(result.release_key)
    assert result.key_path is not None
    assert stat.S_IMODE(result.key_path.stat().st_mode) == 0o600
    assert bytes.fromhex(result.key_path.read_text().strip()) == result.release_key
    origin = config.seeder.origin_dir
    stored = {p.name: p.read_bytes() for p in (origin / "chunks").rglob("*") if p.is_file()}
    assert all(b"THE-SECRET-ENDING-" not in data for data in stored.values())
    assert not (origin / "files" / GAME / "2").exists()
    assert not (origin / "torrents" / GAME / "2.torrent").exists()
    by_path = {entry.path: entry for entry in manifest.files}
    for chunk in by_path["bin/game"].chunks:
        assert chunk.sealed is None  # published in the clear by release 1 already
    for chunk in by_path["data/ending.pak"].chunks:
        assert chunk.sealed is not None and chunk.sha256 not in stored
        sealed = stored[chunk.sealed.sha256]
        assert hashlib.sha256(sealed).hexdigest() == chunk.sealed.sha256
        plain = open_chunk(result.release_key, GAME, 2, chunk.sha256, sealed)
        assert plain == SECRET[chunk.offset : chunk.offset + chunk.size]


def test_an_unlock_time_without_an_offset_is_refused_before_anything_is_written(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    with pytest.raises(PublishError, match="UTC offset"):
        publish(make_build(FILES), publisher_key, config, "1.0", unlock_at="2030-01-01T18:00")
    assert not (config.seeder.origin_dir / "chunks").exists()


def test_the_publish_command_takes_critical_changelog_and_unlock_time() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["publish", "build", "--game", GAME, "--version", "2.0", "--key", "k.pem"]
    args = parser.parse_args(
        [*base, "--critical", "--changelog", "Fixes.", "--unlock-at", "2030-01-01T18:00Z"]
    )
    assert (args.critical, args.changelog, args.unlock_at) == (True, "Fixes.", "2030-01-01T18:00Z")
    plain = parser.parse_args(["publish", "b", "--game", GAME, "--version", "1", "--key", "k"])
    assert (plain.critical, plain.changelog, plain.unlock_at) == (False, "", None)


def test_republishing_a_locked_build_gives_back_the_same_release(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    publish(make_build(FILES), publisher_key, config, "1.0")
    build = make_build(dict(FILES, **{"data/ending.pak": SECRET}))
    unlock_at = "2030-01-01T18:00:00Z"
    first = publish(build, publisher_key, config, "2.0", unlock_at=unlock_at)

    again = publish(build, publisher_key, config, "2.0", unlock_at="2030-01-01T19:00:00+01:00")

    assert (again.created, again.unlocked_files) == (False, False)
    assert again.manifest == first.manifest and again.release_key is None
    origin = config.seeder.origin_dir
    assert not (origin / "files" / GAME / "2").exists()
    with pytest.raises(PublishError, match=r"locked until 2030-01-01T18:00:00.*new version"):
        publish(build, publisher_key, config, "2.0", unlock_at="2030-02-01T18:00:00Z")
    with pytest.raises(PublishError, match="cannot be published in the clear before then"):
        publish(build, publisher_key, config, "2.0")
    assert not (origin / "files" / GAME / "2").exists()
    assert not (origin / "torrents" / GAME / "3.torrent").exists()  # no release 3 either


def test_republishing_a_locked_build_from_its_unlock_time_publishes_its_files(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    publish(make_build(FILES), publisher_key, config, "1.0")
    patched = dict(FILES, **{"data/ending.pak": SECRET})
    build = make_build(patched)
    past = "2020-01-01T00:00:00Z"  # its launch has come
    first = publish(build, publisher_key, config, "2.0", unlock_at=past)
    origin = config.seeder.origin_dir
    assert not (origin / "files" / GAME / "2").exists()

    opened = publish(build, publisher_key, config, "2.0")

    assert (opened.created, opened.unlocked_files) == (False, True)
    assert opened.manifest == first.manifest
    for path, data in patched.items():
        assert (origin / "files" / GAME / "2" / path).read_bytes() == data
    torrent = (origin / "torrents" / GAME / "2.torrent").read_bytes()
    assert torrent == first.manifest.torrent.data


def test_a_build_published_unlocked_cannot_be_locked_afterwards(
    make_build: BuildMaker, publisher_key: Path, config: Config
) -> None:
    build = make_build(FILES)
    publish(build, publisher_key, config, "1.0")
    with pytest.raises(PublishError, match="published unlocked"):
        publish(build, publisher_key, config, "1.0", unlock_at="2030-01-01T18:00:00Z")
