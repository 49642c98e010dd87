"""Content-defined chunks: deterministic, bounded, covering the file, stable under edits."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from seeder_helpers import random_bytes

from seeder import ChunkParams, chunk_file, chunk_stream

SMALL = ChunkParams(avg_size=4096, min_size=1024, max_size=16384)
MIB = 1024 * 1024


def cut(data: bytes, params: ChunkParams = SMALL) -> list[tuple[str, int, int]]:
    digest = chunk_stream(io.BytesIO(data), params)
    return [(c.sha256, c.offset, c.size) for c in digest.chunks]


def test_default_sizes_are_the_platform_s() -> None:
    assert ChunkParams() == ChunkParams(1 * MIB, 256 * 1024, 4 * MIB)


def test_file_chunks_cover_the_file_within_bounds_and_hash_it(tmp_path: Path) -> None:
    data = random_bytes(9 * MIB + 123, seed=1)
    path = tmp_path / "big.pak"
    path.write_bytes(data)
    digest = chunk_file(path)
    assert digest.size == len(data)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    offset = 0
    for chunk in digest.chunks:
        assert chunk.offset == offset
        assert chunk.sha256 == hashlib.sha256(data[offset : offset + chunk.size]).hexdigest()
        assert chunk.size <= 4 * MIB
        offset += chunk.size
    assert offset == len(data)
    assert all(chunk.size >= 256 * 1024 for chunk in digest.chunks[:-1])
    assert 2 <= len(digest.chunks) <= 40
    assert chunk_file(path) == digest  # deterministic


def test_empty_file_has_no_chunks() -> None:
    digest = chunk_stream(io.BytesIO(b""))
    assert digest.chunks == ()
    assert digest.sha256 == hashlib.sha256(b"").hexdigest()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 200_000),
)
def test_chunking_is_deterministic_and_covers_everything(seed: int, size: int) -> None:
    data = random_bytes(size, seed)
    chunks = cut(data)
    assert chunks == cut(data)
    assert sum(size for _, _, size in chunks) == len(data)
    assert b"".join(data[o : o + s] for _, o, s in chunks) == data


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    position=st.integers(0, 20_000),
    inserted=st.binary(min_size=1, max_size=200),
)
def test_an_early_insertion_changes_only_nearby_chunks(
    seed: int, position: int, inserted: bytes
) -> None:
    original = random_bytes(400_000, seed)
    edited = original[:position] + inserted + original[position:]
    before = {sha for sha, _, _ in cut(original)}
    after = cut(edited)
    # Chunks that start well after the edit (past a maximum chunk and some slack for the
    # cut points to resynchronise) must be the very same chunks as before.
    far = position + len(inserted) + 3 * SMALL.max_size
    late = [sha for sha, offset, _ in after if offset >= far]
    assert late, "the file is long enough to have chunks far from the edit"
    assert all(sha in before for sha in late)
    changed = [sha for sha in (s for s, _, _ in after) if sha not in before]
    assert len(changed) <= 6


def test_chunks_list_parts_that_cover_them_and_hash_their_bytes(tmp_path: Path) -> None:
    data = random_bytes(5 * MIB + 77, seed=3)
    path = tmp_path / "big.pak"
    path.write_bytes(data)
    digest = chunk_file(path)
    assert digest == chunk_stream(io.BytesIO(data))  # file and stream agree, parts included
    for chunk in digest.chunks:
        assert chunk.parts, "a chunk of about 1 MiB has several 64 KiB parts"
        for part, at in zip(chunk.parts, chunk.part_offsets(), strict=True):
            start = chunk.offset + at
            assert part.sha256 == hashlib.sha256(data[start : start + part.size]).hexdigest()
            assert part.size <= 256 * 1024
        assert all(part.size >= 16 * 1024 for part in chunk.parts[:-1])


def test_an_edit_inside_a_chunk_changes_only_a_few_of_its_parts() -> None:
    original = random_bytes(3 * MIB, seed=4)
    edited = original[: MIB + 5000] + b"patched!" + original[MIB + 5008 :]
    before = {p.sha256 for c in chunk_stream(io.BytesIO(original)).chunks for p in c.parts}
    after = [p for c in chunk_stream(io.BytesIO(edited)).chunks for p in c.parts]
    new = [p for p in after if p.sha256 not in before]
    assert 1 <= len(new) <= 2
    assert sum(p.size for p in new) <= 512 * 1024


def test_without_part_params_chunks_have_no_parts() -> None:
    digest = chunk_stream(io.BytesIO(random_bytes(2 * MIB, seed=5)), part_params=None)
    assert all(not chunk.parts for chunk in digest.chunks)
