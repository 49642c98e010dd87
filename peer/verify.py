"""Checking installed files against the signed manifest (blocking: run in a thread)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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
    """Every manifest file under ``root`` that is missing or differs in size or SHA-256."""
    base = root.resolve()
    mismatches: list[FileMismatch] = []
    for entry in files:
        target = (base / entry.path).resolve()
        if not target.is_relative_to(base):
            mismatches.append(FileMismatch(entry.path, "path escapes the install directory"))
            continue
        problem = _check_file(target, entry)
        if problem:
            mismatches.append(FileMismatch(entry.path, problem))
    return mismatches


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
