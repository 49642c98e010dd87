"""Building the staging directory: every new file, chunk by chunk, verified as it is done.

Chunks the installed release has are copied in the kernel; missing ones stream in from the
chunk source, a window of fetches ahead of the writer. A file that fails its whole-file check
after a fast copy is rebuilt checking each copied chunk, fetching the damaged ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from signing import PartRef

from .chunk_source import ChunkRequest, ChunkSource, expect_requests
from .errors import UpdateVerificationFailed
from .plan import CopyLocal, CopyStaged, FetchChunk, FetchRange, FilePlan, UpdatePlan
from .staging import StagedFile, copy_chunks, file_mismatch, is_staged
from .switch import Checkpoint

_COPY_BATCH = 64  # chunks copied per trip to the worker thread


@dataclass(frozen=True)
class UpdateProgress:
    phase: str  # "staging", "switching"
    done_bytes: int
    total_bytes: int
    fetched_bytes: int


ProgressCallback = Callable[[UpdateProgress], None]


class StagingRun:
    """One pass over the plan; files an interrupted pass staged and verified are kept."""

    def __init__(
        self,
        plan: UpdatePlan,
        staging: Path,
        installed: Path | None,
        chunks: ChunkSource,
        checkpoint: Checkpoint,
        progress: ProgressCallback,
        window: int,
    ) -> None:
        self.plan = plan
        self.staging = staging
        self.installed = installed
        self._chunks = chunks
        self._checkpoint = checkpoint
        self._progress = progress
        self._window = window
        self.fetched = 0
        self.done = 0
        self.resumed = 0

    async def stage(self) -> None:
        pending = await asyncio.to_thread(self._unstaged)
        self.resumed = len(self.plan.files) - len(pending)
        self.done = self.plan.total_bytes - sum(file.size for file in pending)
        await expect_requests(self._chunks, list(_fetch_requests(pending)))
        prefetch = _Prefetcher(self._chunks, _fetch_requests(pending), self._window)
        try:
            for file in pending:
                await self._build(file, prefetch)
                self._checkpoint(f"file-staged:{file.path}")
        finally:
            await prefetch.close()

    def _unstaged(self) -> list[FilePlan]:
        return [file for file in self.plan.files if not is_staged(self.staging, file)]

    async def _build(self, file: FilePlan, prefetch: _Prefetcher) -> None:
        await self._write(file, prefetch, careful=False)
        if await asyncio.to_thread(self._mismatch, file) is None:
            return
        # An installed file differs from what its manifest says: check chunk by chunk.
        self.done -= file.size
        await self._write(file, None, careful=True)
        problem = await asyncio.to_thread(self._mismatch, file)
        if problem is not None:
            raise UpdateVerificationFailed(f"{file.path}: {problem}")

    def _mismatch(self, file: FilePlan) -> str | None:
        return file_mismatch(self.staging, file.path, file.size, file.sha256, file.mode)

    async def _write(self, file: FilePlan, prefetch: _Prefetcher | None, careful: bool) -> None:
        staged = await asyncio.to_thread(StagedFile, self.staging, file)
        try:
            batch: list[CopyLocal | CopyStaged] = []
            for op in file.ops:
                if isinstance(op, CopyLocal | CopyStaged):
                    batch.append(op)
                    if len(batch) >= _COPY_BATCH:
                        await self._copy(staged, batch, careful)
                        batch = []
                    continue
                await self._copy(staged, batch, careful)
                batch = []
                request = fetch_request(file.path, op)
                data = await (prefetch.next() if prefetch else self._chunks.fetch(request))
                await asyncio.to_thread(staged.write, op.target_offset, data)
                self.fetched += op.size
                self._advance(file, op.target_offset, op.size)
            await self._copy(staged, batch, careful)
            await asyncio.to_thread(staged.finish)
        finally:
            staged.close()

    async def _copy(
        self, staged: StagedFile, ops: list[CopyLocal | CopyStaged], careful: bool
    ) -> None:
        if not ops:
            return
        failed = await asyncio.to_thread(
            copy_chunks, staged, ops, self.installed, self.staging, careful=careful
        )
        for op in failed:
            data = await self._chunks.fetch(refetch_request(staged.plan.path, op))
            await asyncio.to_thread(staged.write, op.target_offset, data)
            self.fetched += op.size
        for op in ops:
            self._advance(staged.plan, op.target_offset, op.size)

    def _advance(self, file: FilePlan, offset: int, size: int) -> None:
        self.done += size
        self._checkpoint(f"chunk:{file.path}@{offset}")
        self._progress(UpdateProgress("staging", self.done, self.plan.total_bytes, self.fetched))


def _fetch_requests(files: Iterable[FilePlan]) -> Iterator[ChunkRequest]:
    for file in files:
        for op in file.ops:
            if isinstance(op, FetchChunk | FetchRange):
                yield fetch_request(file.path, op)


def fetch_request(path: str, op: FetchChunk | FetchRange) -> ChunkRequest:
    if isinstance(op, FetchRange):
        return ChunkRequest(op.sha256, op.size, path, op.target_offset, op.parts, op.chunk_offset)
    return ChunkRequest(op.sha256, op.size, path, op.target_offset)


def refetch_request(path: str, op: CopyLocal | CopyStaged) -> ChunkRequest:
    """What to fetch instead of a copy whose source turned out damaged or missing."""
    if op.chunk is None:
        return ChunkRequest(op.sha256, op.size, path, op.target_offset)
    part = PartRef(op.sha256, op.size)
    return ChunkRequest(op.chunk, op.size, path, op.target_offset, (part,), op.chunk_offset)


class _Prefetcher:
    """Keeps up to ``window`` chunk fetches in flight, handing results back in plan order."""

    def __init__(self, source: ChunkSource, requests: Iterator[ChunkRequest], window: int) -> None:
        self._source = source
        self._requests = requests
        self._window = max(1, window)
        self._pending: deque[asyncio.Task[bytes]] = deque()

    async def next(self) -> bytes:
        self._fill()
        task = self._pending.popleft()
        self._fill()
        return await task

    def _fill(self) -> None:
        while len(self._pending) < self._window:
            request = next(self._requests, None)
            if request is None:
                return
            self._pending.append(asyncio.create_task(self._source.fetch(request)))

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending.clear()
