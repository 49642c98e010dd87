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
