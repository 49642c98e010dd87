"""The delta planner: plans built from two random releases rebuild the new one exactly, fetch
only chunks the disk does not have (each once) and report removals and mode changes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from updates_support import (
    MemoryChunkSource,
    assert_release,
    chunk_bytes,
    make_manifest,
    manifest_of,
    random_bytes,
    refs,
    write_tree,
)

from peer.updates import (
    CopyLocal,
    CopyStaged,
    FetchRange,
    UpdateApplier,
    UpdatePlan,
    plan_update,
    read_pointer,
    record_install,
)
from signing import ManifestFile, PartRef, ReleaseManifest

BLOCKS = [random_bytes(size, seed) for seed, size in enumerate([1, 7, 64, 300, 1000, 2048, 5])]
PATHS = ["a.pak", "b.bin", "d/c.dat", "d/e.dat", "empty"]
MODES = [0o644, 0o755, 0o600, 0o100644]

# path -> (bytes, mode, chunk cut offsets, part cut offsets)
Release = dict[str, tuple[bytes, int, list[int], list[int]]]


@st.composite
def releases(draw: st.DrawFn) -> Release:
    paths = draw(st.lists(st.sampled_from(PATHS), unique=True, max_size=len(PATHS)))
    release: Release = {}
    with_parts = draw(st.booleans())
    for path in paths:
        blocks = draw(st.lists(st.integers(0, len(BLOCKS) - 1), max_size=8))
        data, cuts, part_cuts = b"", [], []
        for index in blocks:
            # A cut inside a block now and then: a part that is unlikely to recur.
            if with_parts and len(BLOCKS[index]) > 1 and draw(st.integers(0, 4)) == 0:
                part_cuts.append(len(data) + len(BLOCKS[index]) // 2)
            data += BLOCKS[index]
            # Cutting at most block boundaries makes chunks recur across files and versions.
            if draw(st.booleans()):
                cuts.append(len(data))
            if with_parts:
                part_cuts.append(len(data))
        release[path] = (data, draw(st.sampled_from(MODES)), cuts, part_cuts)
    return release


def manifest_for(release: Release, number: int) -> ReleaseManifest:
    entries = [
        ManifestFile(
            path, len(data), mode, hashlib.sha256(data).hexdigest(), refs(data, cuts, part_cuts)
        )
        for path, (data, mode, cuts, part_cuts) in sorted(release.items())
    ]
    return manifest_of(entries, number)


def materialize(
    plan: UpdatePlan, old: dict[str, bytes], store: dict[str, bytes]
) -> tuple[dict[str, bytes], list[tuple[str, int]]]:
    """Run a plan over bytes in memory; returns the new files and the fetched chunk and part
    ids."""
    built: dict[str, bytes] = {}
    fetched = []
    for file in plan.files:
        buffer = bytearray(file.size)
        for op in file.ops:
            if isinstance(op, CopyLocal):
                data = old[op.source][op.source_offset : op.source_offset + op.size]
            elif isinstance(op, CopyStaged):
                source = buffer if op.source == file.path else built[op.source]
                data = bytes(source[op.source_offset : op.source_offset + op.size])
            elif isinstance(op, FetchRange):
                data = store[op.sha256][op.chunk_offset : op.chunk_offset + op.size]
                assert [p.sha256 for p in op.parts] == _part_hashes(data, op.parts)
                fetched.extend((part.sha256, part.size) for part in op.parts)
                buffer[op.target_offset : op.target_offset + op.size] = data
                continue
            else:
                data = store[op.sha256]
                fetched.append((op.sha256, op.size))
            assert hashlib.sha256(data).hexdigest() == op.sha256
            buffer[op.target_offset : op.target_offset + op.size] = data
        built[file.path] = bytes(buffer)
    return built, fetched


def _part_hashes(data: bytes, parts: tuple[PartRef, ...]) -> list[str]:
    hashes, at = [], 0
    for part in parts:
        hashes.append(hashlib.sha256(data[at : at + part.size]).hexdigest())
        at += part.size
    return hashes


@given(old=releases(), new=releases())
@settings(max_examples=300, deadline=None)
def test_plans_rebuild_the_new_release_exactly(old: Release, new: Release) -> None:
    old_manifest, new_manifest = manifest_for(old, 1), manifest_for(new, 2)
    plan = plan_update(old_manifest, new_manifest)
    old_bytes = {path: data for path, (data, *_) in old.items()}
    store = {
        chunk.sha256: new[entry.path][0][chunk.offset : chunk.offset + chunk.size]
        for entry in new_manifest.files
        for chunk in entry.chunks
    }
    built, fetched_sizes = materialize(plan, old_bytes, store)
    fetched = [sha for sha, _ in fetched_sizes]

    assert built == {path: data for path, (data, *_) in new.items()}
    local = {chunk.sha256 for entry in old_manifest.files for chunk in entry.chunks}
    local_parts = {p.sha256 for e in old_manifest.files for c in e.chunks for p in c.parts}
    assert not set(fetched) & local, "a chunk on disk was fetched"
    assert not set(fetched) & local_parts, "a part on disk was fetched"
    assert len(fetched) == len(set(fetched)), "a chunk or part was fetched twice"
    assert plan.fetched_bytes == sum(size for _, size in fetched_sizes)
    assert plan.reused_bytes + plan.fetched_bytes == new_manifest.total_size
    assert set(plan.removed) == set(old) - set(new)
    assert set(plan.added) == set(new) - set(old)
    assert {c.path for c in plan.mode_changes} == {
        path for path in set(old) & set(new) if old[path][1] & 0o777 != new[path][1] & 0o777
    }
    assert {file.path: file.mode for file in plan.files} == {p: m for p, (_, m, *_) in new.items()}


def test_a_fresh_install_fetches_every_distinct_chunk_once() -> None:
    data = random_bytes(40_000, 1)
    files = {"a.pak": (data + data, 0o644), "b.pak": (data, 0o644)}
    manifest = make_manifest(files, 1)
    plan = plan_update(None, manifest)
    assert plan.from_release is None
    assert plan.fetched_bytes == sum(len(c) for c in chunk_bytes(files, manifest).values())
    assert any(isinstance(op, CopyStaged) for op in plan.ops())


def test_renamed_and_moved_files_cost_nothing() -> None:
    pack, tool = random_bytes(200_000, 2), random_bytes(30_000, 3)
    old = make_manifest({"data/pack0.pak": (pack, 0o644), "tool": (tool, 0o644)}, 1)
    new = make_manifest({"assets/pack-renamed.pak": (pack, 0o644), "bin/tool": (tool, 0o755)}, 2)
    plan = plan_update(old, new)
    assert plan.fetched_bytes == 0
    assert plan.removed == ("data/pack0.pak", "tool")
    assert plan.added == ("assets/pack-renamed.pak", "bin/tool")
    assert all(isinstance(op, CopyLocal) for op in plan.ops())


def test_an_insertion_in_a_large_file_fetches_only_nearby_chunks() -> None:
    pack = random_bytes(600_000, 4)
    patched = pack[:300_000] + random_bytes(1000, 5) + pack[300_000:]
    plan = plan_update(
        make_manifest({"p": (pack, 0o644)}, 1), make_manifest({"p": (patched, 0o644)}, 2)
    )
    # Content-defined cuts resynchronise right after the edit: about two 16 KiB chunks.
    assert 1000 <= plan.fetched_bytes <= 4 * 64 * 1024
    assert plan.summary()["fetch_bytes"] == plan.fetched_bytes


def test_a_manifest_of_another_game_is_refused() -> None:
    manifest = make_manifest({"a": (b"x", 0o644)}, 1)
    other = make_manifest({"a": (b"x", 0o644)}, 2, game_id="other-game")
    with pytest.raises(ValueError):
        plan_update(manifest, other)


@given(old=releases(), new=releases())
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_applier_turns_any_release_into_any_other(old: Release, new: Release) -> None:
    old_manifest, new_manifest = manifest_for(old, 1), manifest_for(new, 2)
    store = MemoryChunkSource(
        chunk_bytes({p: (d, m) for p, (d, m, *_) in new.items()}, new_manifest)
    )
    with tempfile.TemporaryDirectory() as temp:
        game_dir = Path(temp) / "game"
        write_tree(game_dir / "1", {p: (d, m) for p, (d, m, *_) in old.items()})
        (game_dir / "1" / "saves").mkdir(parents=True)
        (game_dir / "1" / "saves" / "slot1.sav").write_bytes(b"level 9")
        record_install(game_dir, old_manifest)

        result = asyncio.run(UpdateApplier(store).apply(game_dir, new_manifest))

        assert_release(game_dir, new_manifest)
        assert_release(game_dir, old_manifest)  # kept for a rollback
        pointer = read_pointer(game_dir)
        assert pointer is not None and (pointer.release, pointer.previous) == (2, 1)
        assert result.fetched_bytes == plan_update(old_manifest, new_manifest).fetched_bytes
        assert os.path.samefile(game_dir / "1/saves/slot1.sav", game_dir / "2/saves/slot1.sav")
        assert sorted(p.name for p in game_dir.iterdir()) == [
            ".manifests",
            ".update.lock",
            "1",
            "2",
            "current.json",
        ]
