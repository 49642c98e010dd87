"""What a preload leaves on disk for the next start of the agent (``peer.updates.preloads``):
the record and manifest written before the first chunk, the sealed chunks counted back, and
everything dropped once the preload is done with, or unreadable."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from updates_support import lock_release, make_manifest, patched_game, publish_chunks, write_tree

from peer.updates import (
    begin_preload,
    discard_preload,
    load_manifest,
    preload_dir,
    record_install,
    restore_preload,
    sealed_requests,
)
from seeder.origin import LocalOrigin
from signing import ReleaseManifest
from signing.sealing import new_release_key


@dataclass
class Scene:
    game_dir: Path
    origin: LocalOrigin
    installed: ReleaseManifest
    locked: ReleaseManifest

    def copy_sealed_chunks(self, count: int) -> None:
        """What a preload downloads, for the first ``count`` chunks it needs."""
        target = preload_dir(self.game_dir, self.locked.release)
        for request in sealed_requests(self.installed, self.locked)[:count]:
            shutil.copyfile(self.origin.chunk_path(request.sha256), target / request.sha256)


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    old_files, new_files = patched_game(seed=70)
    installed = make_manifest(old_files, 1)
    origin = tmp_path / "origin"
    publish_chunks(origin, old_files, installed)
    public = {chunk.sha256 for entry in installed.files for chunk in entry.chunks}
    locked = lock_release(origin, new_files, make_manifest(new_files, 2), public, new_release_key())
    game_dir = tmp_path / "game"
    write_tree(game_dir / "1", old_files)
    record_install(game_dir, installed)
    return Scene(game_dir, LocalOrigin(origin), installed, locked)


def test_a_restart_finds_the_preload_and_counts_its_chunks_on_disk(scene: Scene) -> None:
    assert restore_preload(scene.game_dir) is None
    begin_preload(scene.game_dir, scene.locked)
    needed = len(sealed_requests(scene.installed, scene.locked))
    assert needed >= 2

    found = restore_preload(scene.game_dir)  # killed before the first chunk

    assert found is not None and found.manifest == scene.locked
    assert (found.stored, len(found.requests), found.complete) == (0, needed, False)
    scene.copy_sealed_chunks(1)
    found = restore_preload(scene.game_dir)
    assert found is not None and (found.stored, found.complete) == (1, False)
    scene.copy_sealed_chunks(needed)
    found = restore_preload(scene.game_dir)
    assert found is not None and (found.stored, found.complete) == (needed, True)


def test_a_preload_done_with_leaves_nothing_behind(scene: Scene) -> None:
    begin_preload(scene.game_dir, scene.locked)
    scene.copy_sealed_chunks(1)

    discard_preload(scene.game_dir, scene.locked.release)

    assert restore_preload(scene.game_dir) is None
    assert not preload_dir(scene.game_dir, 2).exists()
    assert not (scene.game_dir / ".manifests" / "2.json").exists()  # release 2 is not kept
    assert load_manifest(scene.game_dir, 1) == scene.installed


def test_a_newer_preload_replaces_an_older_one(scene: Scene) -> None:
    begin_preload(scene.game_dir, scene.locked)
    scene.copy_sealed_chunks(1)
    newer = make_manifest({"data/patch.pak": (b"newer", 0o644)}, 3)

    begin_preload(scene.game_dir, newer)

    assert not preload_dir(scene.game_dir, 2).exists()
    assert not (scene.game_dir / ".manifests" / "2.json").exists()
    found = restore_preload(scene.game_dir)
    assert found is not None and found.manifest.release == 3


def test_sealed_chunks_of_installed_releases_are_swept_at_start(scene: Scene) -> None:
    stale = preload_dir(scene.game_dir, 1)  # left by an agent before preloads were recorded
    stale.mkdir()
    (stale / ("ab" * 32)).write_bytes(b"sealed")

    assert restore_preload(scene.game_dir) is None

    assert not stale.exists()


def test_an_unreadable_preload_record_is_dropped(scene: Scene) -> None:
    record = scene.game_dir / ".preload.json"
    record.write_bytes(b'{"release": "two"')

    assert restore_preload(scene.game_dir) is None

    assert not record.exists()
    begin_preload(scene.game_dir, scene.locked)  # the player can preload again
    found = restore_preload(scene.game_dir)
    assert found is not None and found.manifest.release == 2
