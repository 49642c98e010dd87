"""Copying a release's files and new chunks into the origin store on worker threads.

Uploads start as soon as a file has been chunked, while the next file is still being read,
so the disk (or the network, for S3) works at the same time as the hashing. Chunks are
content-addressed: a chunk the origin already holds, or one already sent for this release,
is not uploaded again; a file unchanged since the previous release is linked (local) or
copied server-side (S3) instead of uploaded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from seeder.build import BuildFile
from seeder.errors import PublishError, SeederError
from seeder.origin import FileCopy, OriginStore
from signing import ChunkRef, ManifestFile

UPLOAD_WORKERS = 8
IN_FLIGHT_BYTES = 64 * 1024 * 1024  # chunk bytes waiting for an upload worker, at most


class ReleaseUpload:
    """The uploads of one release; :meth:`finish` waits for all of them or raises."""

    def __init__(
        self,
        store: OriginStore,
        game_id: str,
        release: int,
        on_bytes: Callable[[int], None],
        earlier: Mapping[str, FileCopy] | None = None,
    ) -> None:
        self._store = store
        self._earlier = earlier or {}
        self._game_id = game_id
        self._release = release
        self._on_bytes = on_bytes
        self._pool = ThreadPoolExecutor(UPLOAD_WORKERS, thread_name_prefix="upload")
        self._jobs: list[Future[None]] = []
        self._sent: set[str] = set()
        self._in_flight = _ByteBudget(IN_FLIGHT_BYTES)

    def __enter__(self) -> ReleaseUpload:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None:
            for job in self._jobs:
                job.cancel()
        self._pool.shutdown(wait=True)

    def add_chunk(self, chunk: ChunkRef, data: bytes) -> None:
        """Start uploading a chunk just cut (and hashed) from these very bytes."""
        if chunk.sha256 in self._sent:
            return
        self._sent.add(chunk.sha256)
        self._in_flight.acquire(len(data))
        job = self._pool.submit(self._store.put_chunk, chunk.sha256, data, verified=True)
        job.add_done_callback(lambda _: self._in_flight.release(len(data)))
        self._jobs.append(job)

    def add_file(self, entry: BuildFile, described: ManifestFile) -> None:
        """Start copying ``entry`` into the origin, checking it against its manifest hash."""
        self._jobs.append(self._pool.submit(self._put_file, entry, described))

    def _put_file(self, entry: BuildFile, described: ManifestFile) -> None:
        earlier = self._earlier.get(described.sha256)
        if earlier is not None and earlier.size == described.size:
            store, where = self._store, (self._game_id, self._release, described.path)
            if store.reuse_file(*where, earlier):
                self._on_bytes(described.size)
                return
        self._store.put_file(
            self._game_id,
            self._release,
            described.path,
            entry.source,
            described.sha256,
            self._on_bytes,
        )

    def add(self, entry: BuildFile, described: ManifestFile) -> None:
        """Start uploading ``entry`` and those of its chunks the origin does not hold."""
        self.add_file(entry, described)
        fresh = {
            chunk.sha256: chunk for chunk in described.chunks if chunk.sha256 not in self._sent
        }
        self._sent.update(fresh)
        try:
            present = self._store.present_chunks(list(fresh)) if fresh else set()
        except SeederError as exc:
            raise PublishError(str(exc)) from None
        # Each chunk is a job of its own so that a big file's chunks spread over the workers.
        self._jobs += [
            self._pool.submit(self._put_chunk, entry.source, chunk)
            for sha256, chunk in fresh.items()
            if sha256 not in present
        ]

    def finish(self) -> None:
        """Wait for every upload; the first failure becomes a :class:`PublishError`."""
        try:
            for job in self._jobs:
                job.result()
        except SeederError as exc:
            raise PublishError(str(exc)) from None
        except OSError as exc:
            raise PublishError(f"cannot read the build: {exc.strerror or exc}") from None

    def _put_chunk(self, source: Path, chunk: ChunkRef) -> None:
        with source.open("rb", buffering=0) as reader:
            data = os.pread(reader.fileno(), chunk.size, chunk.offset)
        self._store.put_chunk(chunk.sha256, data)


class _ByteBudget:
    """Blocks the chunker while too many chunk bytes wait for the upload workers."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._changed = threading.Condition()

    def acquire(self, count: int) -> None:
        with self._changed:
            # A single chunk larger than the budget still goes through, alone.
            self._changed.wait_for(lambda: self._used == 0 or self._used + count <= self._limit)
            self._used += count

    def release(self, count: int) -> None:
        with self._changed:
            self._used -= count
            self._changed.notify_all()
