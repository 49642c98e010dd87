"""Checking installed files against the signed manifest (blocking: run in a thread)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .release import ManifestEntry

_READ_SIZE = 1024 * 1024


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
