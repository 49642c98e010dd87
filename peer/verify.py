"""Checking installed files against the signed manifest.

``verify_files`` hashes a release on disk (blocking: run it in a thread). ``ReleaseCheck``
hashes a release while it downloads: a worker thread reads each file, in the torrent's order,
as far as libtorrent has verified its pieces, so that little is left to hash when the last
piece arrives. Only a file whose bytes on disk matched the manifest counts as checked early;
anything else (a file still being written, a short read) is checked again once the download
is complete and flushed, so an early read can never fail an install on its own.

Why hash files at all when libtorrent checks every piece it receives? Those piece checks are
bound to the signed release (the manifest signs the v2 info-hash, the SHA-256 of the info
dictionary, whose file tree holds each file's Merkle root over 16 KiB blocks; libtorrent
checks the piece layers against those roots and every piece against its layer), so they
prove the bytes are the torrent's. They do not prove the bytes are the manifest's: each
file's SHA-256 is a statement of its own in the manifest, the one the updater, verify and
repair work from, and a manifest whose torrent and file hashes disagree is caught only here.
Nor do they cover pieces libtorrent took from resume data without hashing them. So the
check stays, and runs while the download does instead of after it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from .release import ManifestEntry

_READ_SIZE = 1024 * 1024
# The early check reads up to this much at a time: few enough rounds that it rarely waits on
# the event loop for the GIL, little enough that it keeps close behind the download.
_SPAN = 8 * 1024 * 1024
_WAIT_SECONDS = 0.02  # how often the early check looks again for bytes it waits for


@dataclass(frozen=True)
class FileMismatch:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def verify_files(root: Path, files: Sequence[ManifestEntry]) -> list[FileMismatch]:
    """Every manifest file under ``root`` that is missing or differs in size or SHA-256.

    Files are hashed in parallel (hashlib releases the GIL), largest first."""
    base = root.resolve()
    ordered = sorted(files, key=lambda entry: -entry.size)
    workers = max(1, min(len(ordered), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = list(pool.map(lambda entry: _check_entry(base, entry), ordered))
    found = {entry.path: problem for entry, problem in zip(ordered, problems, strict=True)}
    return [FileMismatch(e.path, p) for e in files if (p := found.get(e.path)) is not None]


def _check_entry(base: Path, entry: ManifestEntry) -> str | None:
    target = (base / entry.path).resolve()
    if not target.is_relative_to(base):
        return "path escapes the install directory"
    return _check_file(target, entry)


def _check_file(target: Path, entry: ManifestEntry) -> str | None:
    if not target.is_file():
        return "missing"
    size = target.stat().st_size
    if size != entry.size:
        return f"size {size} != {entry.size}"
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while block := handle.read(_READ_SIZE):
            digest.update(block)
    if digest.hexdigest() != entry.sha256.lower():
        return "SHA-256 does not match the manifest"
    return None


def _open_if_present(target: Path) -> BinaryIO | None:
    try:
        return target.open("rb")
    except FileNotFoundError:
        return None


def _written_end(fd: int, start: int, end: int) -> int:
    """How far from ``start`` (at most ``end``) the file has data, not a hole.

    libtorrent writes a verified piece to its file some time after it counts the piece as
    had; until then the piece's range of the sparse file is a hole. Reading only written
    ranges keeps the early check from hashing what is not there yet. (A file system that
    reports no holes makes the early check fail more often, never pass wrongly: its result
    counts only when the bytes matched.)"""
    try:
        if os.lseek(fd, start, os.SEEK_DATA) != start:
            return start
        return min(end, os.lseek(fd, start, os.SEEK_HOLE))
    except OSError:  # ENXIO: nothing written at or after start
        return start


class PieceMap(Protocol):
    """Which bytes of a release's files sit in pieces libtorrent has verified."""

    def verified_end(self, path: str, offset: int) -> int:
        """Where the run of verified bytes of ``path`` from ``offset`` ends (``offset``
        itself when the piece holding it is not verified yet)."""
        ...


class ReleaseCheck:
    """Hashes a release's files while they download; ``finish`` gives the verdict."""

    def __init__(
        self, root: Path, files: Sequence[ManifestEntry], pieces: PieceMap, order: Sequence[str]
    ) -> None:
        self._base = root.resolve()
        self._files = list(files)
        entries = {entry.path: entry for entry in files}
        # in the torrent's order (the order pieces tend to arrive in); a file the torrent
        # does not place is left for the end
        self._queue = [entries.pop(path) for path in order if path in entries]
        self._unplaced = list(entries.values())
        self._pieces = pieces
        self._taken = 0  # files handed to the worker, from the front of the queue
        self._passed: set[str] = set()  # files whose bytes matched the manifest
        self._lock = threading.Lock()
        self._complete = threading.Event()  # every piece is verified: stop waiting for any
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="release-check", daemon=True)

    @property
    def passed_early(self) -> int:
        """Files that matched the manifest while the release downloaded."""
        return len(self._passed)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Give up (the download was paused or failed); the worker ends soon after."""
        self._stop.set()

    async def halt(self) -> None:
        """Give up and wait for the worker to end: before the torrent it reads is removed
        (libtorrent raises on a removed torrent's handle)."""
        self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)

    async def finish(self) -> list[FileMismatch]:
        """Once every piece is verified and on disk: the files that do not match the
        manifest. The worker finishes the file it is reading while the files it has not
        started are hashed in parallel; a file it could not pass is hashed again."""
        self._complete.set()
        with self._lock:
            taken, unstarted = self._queue[: self._taken], self._queue[self._taken :]
            unstarted += self._unplaced
            self._taken = len(self._queue)
        rest = asyncio.create_task(asyncio.to_thread(verify_files, self._base, unstarted))
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)
        again = [entry for entry in taken if entry.path not in self._passed]
        found = await rest
        if again:
            found += await asyncio.to_thread(verify_files, self._base, again)
        order = {entry.path: index for index, entry in enumerate(self._files)}
        return sorted(found, key=lambda mismatch: order[mismatch.path])

    def _run(self) -> None:
        buffer = bytearray(_SPAN)
        while not self._stop.is_set():
            with self._lock:
                if self._taken >= len(self._queue) or self._complete.is_set():
                    return
                entry = self._queue[self._taken]
                self._taken += 1
            if self._follow(entry, memoryview(buffer)):
                self._passed.add(entry.path)

    def _follow(self, entry: ManifestEntry, buffer: memoryview) -> bool:
        """Hash one file as its pieces are verified and written; whether it matched."""
        target = (self._base / entry.path).resolve()
        if not target.is_relative_to(self._base):
            return False
        digest = hashlib.sha256()
        offset = 0
        reader: BinaryIO | None = None
        try:
            while offset < entry.size:
                end = min(entry.size, offset + len(buffer))
                if not self._complete.is_set():
                    end = min(end, self._pieces.verified_end(entry.path, offset))
                    reader = reader or (_open_if_present(target) if end > offset else None)
                    end = _written_end(reader.fileno(), offset, end) if reader else offset
                    if end == offset:
                        if self._stop.wait(_WAIT_SECONDS):
                            return False
                        continue
                reader = reader or target.open("rb")
                read = os.preadv(reader.fileno(), [buffer[: end - offset]], offset)
                if read != end - offset:
                    return False  # shorter than the manifest says: checked again at the end
                digest.update(buffer[:read])
                offset = end
            reader = reader or target.open("rb")
            size = os.fstat(reader.fileno()).st_size
            return size == entry.size and digest.hexdigest() == entry.sha256.lower()
        except OSError:
            return False
        finally:
            if reader is not None:
                reader.close()
