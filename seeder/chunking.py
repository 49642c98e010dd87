"""Content-defined chunking of release files (FastCDC) with SHA-256 chunk ids.

Cut points depend on the bytes around them, not on offsets, so an insertion early in a file
moves only the chunks next to it: an update then fetches those and reuses the rest.
One pass over the file yields the chunks and the whole-file SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pyfastcdc import FastCDC

from seeder.errors import PublishError
from signing import ChunkRef

MIB = 1024 * 1024


@dataclass(frozen=True)
class ChunkParams:
    """FastCDC sizes; the defaults are the platform's and part of every published release."""

    avg_size: int = 1 * MIB
    min_size: int = 256 * 1024
    max_size: int = 4 * MIB


DEFAULT_PARAMS = ChunkParams()


@dataclass(frozen=True)
class FileDigest:
    """What chunking learned about one file."""

    size: int
    sha256: str
    chunks: tuple[ChunkRef, ...]


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class _HashingReader:
    """Feeds every byte the chunker reads into the whole-file hash as well."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def readinto(self, buffer: memoryview) -> int:
        count = self._stream.readinto(buffer)
        if not count:
            return 0
        self.digest.update(buffer[:count])
        self.size += count
        return count


def chunk_stream(stream: Readable, params: ChunkParams = DEFAULT_PARAMS) -> FileDigest:
    """Chunk ``stream`` to its end; memory use is bounded by the chunker's buffer."""
    reader = _HashingReader(stream)
    chunker = FastCDC(params.avg_size, min_size=params.min_size, max_size=params.max_size)
    chunks = tuple(
        ChunkRef(
            sha256=hashlib.sha256(piece.data).hexdigest(), offset=piece.offset, size=piece.length
        )
        for piece in chunker.cut_stream(reader)
    )
    return FileDigest(size=reader.size, sha256=reader.digest.hexdigest(), chunks=chunks)


def chunk_file(path: Path, params: ChunkParams = DEFAULT_PARAMS) -> FileDigest:
    """Chunk the file at ``path``; :class:`PublishError` if it cannot be read."""
    try:
        with path.open("rb", buffering=0) as stream:
            return chunk_stream(stream, params)
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror}") from None
