"""Content-defined chunking of release files (FastCDC) with SHA-256 chunk ids.

Cut points depend on the bytes around them, not on offsets, so an insertion early in a file
moves only the chunks next to it: an update then fetches those and reuses the rest.
For a file on disk, the whole-file SHA-256 runs in a second thread beside the chunker
(hashlib and the chunker both release the GIL on large buffers), so a file costs about as
much time as one SHA-256 over it on each of two cores.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pyfastcdc import FastCDC

from seeder.errors import PublishError
from signing import ChunkRef, PartRef

MIB = 1024 * 1024


@dataclass(frozen=True)
class ChunkParams:
    """FastCDC sizes; the defaults are the platform's and part of every published release."""

    avg_size: int = 1 * MIB
    min_size: int = 256 * 1024
    max_size: int = 4 * MIB


DEFAULT_PARAMS = ChunkParams()
PART_PARAMS = ChunkParams(avg_size=64 * 1024, min_size=16 * 1024, max_size=256 * 1024)
"""Parts inside each chunk: an edit then costs an update a few 64 KiB parts, not a whole
1 MiB chunk (the agent fetches the parts it lacks as byte ranges of the chunk)."""


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


def chunk_stream(
    stream: Readable,
    params: ChunkParams = DEFAULT_PARAMS,
    part_params: ChunkParams | None = PART_PARAMS,
) -> FileDigest:
    """Chunk ``stream`` to its end; memory use is bounded by the chunker's buffer."""
    reader = _HashingReader(stream)
    chunker = _fastcdc(params)
    parter = _fastcdc(part_params) if part_params is not None else None
    chunks = tuple(
        _chunk_ref(piece.data, piece.offset, piece.length, parter, {})
        for piece in chunker.cut_stream(reader)
    )
    return FileDigest(size=reader.size, sha256=reader.digest.hexdigest(), chunks=chunks)


def _fastcdc(params: ChunkParams) -> FastCDC:
    return FastCDC(params.avg_size, min_size=params.min_size, max_size=params.max_size)


KnownParts = Mapping[str, tuple[PartRef, ...]]
"""Parts of chunks published before, by chunk SHA-256: the same bytes have the same parts,
so a patch release cuts and hashes parts only for its new chunks."""


def _chunk_ref(
    data: memoryview, offset: int, size: int, parter: FastCDC | None, known: KnownParts
) -> ChunkRef:
    sha256 = hashlib.sha256(data).hexdigest()
    parts = known.get(sha256) if parter is not None else None
    return ChunkRef(sha256, offset, size, parts or chunk_parts(data, parter))


def chunk_parts(data: memoryview | bytes, parter: FastCDC | None) -> tuple[PartRef, ...]:
    """The parts of one chunk; none when the chunk is a single part (nothing to gain)."""
    if parter is None:
        return ()
    parts = tuple(
        PartRef(hashlib.sha256(piece.data).hexdigest(), piece.length)
        for piece in parter.cut_buf(data)
    )
    return parts if len(parts) > 1 else ()


HASH_BLOCK = 8 * MIB


ChunkSink = Callable[[ChunkRef, bytes], None]
"""Receives each chunk with its bytes as they are cut (to upload them without reading again)."""


def chunk_file(
    path: Path,
    params: ChunkParams = DEFAULT_PARAMS,
    on_chunk: ChunkSink | None = None,
    part_params: ChunkParams | None = PART_PARAMS,
    known_parts: KnownParts | None = None,
) -> FileDigest:
    """Chunk the file at ``path``; :class:`PublishError` if it cannot be read."""
    try:
        with path.open("rb", buffering=0) as stream:
            whole = _WholeFileHash(stream.fileno())
            whole.start()
            try:
                parter = _fastcdc(part_params) if part_params is not None else None
                chunker = _fastcdc(params)
                chunks = tuple(_cut(chunker, parter, known_parts or {}, stream, on_chunk))
            finally:
                whole.join()
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror}") from None
    size, sha256 = whole.result()
    if size != sum(chunk.size for chunk in chunks):
        raise PublishError(f"{path} changed while it was being read")
    return FileDigest(size=size, sha256=sha256, chunks=chunks)


def _cut(
    chunker: FastCDC,
    parter: FastCDC | None,
    known: KnownParts,
    stream: io.FileIO,
    on_chunk: ChunkSink | None,
) -> Iterator[ChunkRef]:
    for piece in chunker.cut_stream(stream):
        chunk = _chunk_ref(piece.data, piece.offset, piece.length, parter, known)
        if on_chunk is not None:
            # piece.data is a view into the chunker's buffer, reused for the next chunk.
            on_chunk(chunk, bytes(piece.data))
        yield chunk


class _WholeFileHash(threading.Thread):
    """The SHA-256 of a whole file, read with its own offsets beside the chunker."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="whole-file-sha256", daemon=True)
        self._fd = fd
        self._digest = hashlib.sha256()
        self._size = 0
        self._error: OSError | None = None

    def run(self) -> None:
        try:
            while block := os.pread(self._fd, HASH_BLOCK, self._size):
                self._digest.update(block)
                self._size += len(block)
        except OSError as exc:
            self._error = exc

    def result(self) -> tuple[int, str]:
        if self._error is not None:
            raise PublishError(f"cannot read a build file: {self._error.strerror}")
        return self._size, self._digest.hexdigest()
