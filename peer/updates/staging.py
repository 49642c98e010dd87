"""Blocking file work of an update: writing staged files chunk by chunk and verifying them.

The async applier runs these in a thread. Writes go through a raw descriptor at explicit
offsets so a chunk fetched earlier in the same file can be read back for a later duplicate.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from signing import ManifestFile

from .plan import PERMISSION_BITS, CopyLocal, CopyStaged, FilePlan

_READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileMismatch:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def file_mismatch(root: Path, path: str, size: int, sha256: str, mode: int) -> str | None:
    """Why ``root/path`` is not exactly this file (None when it is)."""
    target = root / path
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size != size:
        return f"size {info.st_size} != {size}"
    if stat.S_IMODE(info.st_mode) != mode & PERMISSION_BITS:
        return f"mode {oct(stat.S_IMODE(info.st_mode))} != {oct(mode & PERMISSION_BITS)}"
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while block := handle.read(_READ_SIZE):
            digest.update(block)
    if digest.hexdigest() != sha256:
        return "SHA-256 does not match the manifest"
    return None


def verify_release(root: Path, files: Iterable[ManifestFile]) -> list[FileMismatch]:
    """Every manifest file under ``root`` that is missing or differs in size, mode or hash."""
    mismatches = []
    for file in files:
        reason = file_mismatch(root, file.path, file.size, file.sha256, file.mode)
        if reason is not None:
            mismatches.append(FileMismatch(file.path, reason))
    return mismatches


def is_staged(staging: Path, plan: FilePlan) -> bool:
    """Whether a previous, interrupted run already built this file completely."""
    return file_mismatch(staging, plan.path, plan.size, plan.sha256, plan.mode) is None


class StagedFile:
    """One new file being written inside the staging directory."""

    def __init__(self, staging: Path, plan: FilePlan) -> None:
        self.plan = plan
        self.target = staging / plan.path
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if self.target.is_symlink() or self.target.is_dir():
            raise OSError(f"{self.target} is in the way of a release file")
        self._fd = os.open(self.target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def write(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def read_back(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def copy_range(self, source: Path, source_offset: int, offset: int, size: int) -> bool:
        """Copy a byte range of ``source`` in the kernel (a reflink where the file system
        can); False when ``source`` is missing or too short."""
        try:
            fd = os.open(source, os.O_RDONLY)
        except OSError:
            return False
        try:
            while size > 0:
                try:
                    copied = os.copy_file_range(fd, self._fd, size, source_offset, offset)
                except OSError:
                    data = os.pread(fd, size, source_offset)  # no copy_file_range here
                    self.write(offset, data)
                    copied = len(data)
                if copied == 0:
                    return False
                size, source_offset, offset = size - copied, source_offset + copied, offset + copied
            return True
        finally:
            os.close(fd)

    def finish(self) -> None:
        """Make the file durable with the release's permissions."""
        os.ftruncate(self._fd, self.plan.size)
        os.fchmod(self._fd, self.plan.permissions)
        os.fsync(self._fd)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def copy_chunks(
    staged: StagedFile,
    ops: Sequence[CopyLocal | CopyStaged],
    installed: Path | None,
    staging: Path,
    *,
    careful: bool,
) -> list[CopyLocal | CopyStaged]:
    """Copy chunks into ``staged``; returns the ones that must be fetched instead.

    Fast (not ``careful``): the kernel copies byte ranges and the whole-file check that
    follows catches a damaged install. ``careful``: every chunk is read and checked against
    its SHA-256, so only the damaged ones are fetched.
    """
    failed: list[CopyLocal | CopyStaged] = []
    for op in ops:
        root = installed if isinstance(op, CopyLocal) else staging
        if root is None:
            failed.append(op)
        elif isinstance(op, CopyStaged) and op.source == staged.plan.path:
            # The same file: an earlier part of it, read back through the open descriptor.
            if not _write_checked(staged, op, staged.read_back(op.source_offset, op.size)):
                failed.append(op)
        elif careful:
            if not _write_checked(
                staged, op, read_range(root / op.source, op.source_offset, op.size)
            ):
                failed.append(op)
        elif not staged.copy_range(root / op.source, op.source_offset, op.target_offset, op.size):
            failed.append(op)
    return failed  # fmt: skip


def _write_checked(staged: StagedFile, op: CopyLocal | CopyStaged, data: bytes | None) -> bool:
    if data is None or len(data) != op.size or hashlib.sha256(data).hexdigest() != op.sha256:
        return False
    staged.write(op.target_offset, data)
    return True


def read_range(path: Path, offset: int, size: int) -> bytes | None:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(size)
    except OSError:
        return None
    return data if len(data) == size else None
