"""The delta planner: which bytes of a new release can be copied locally, which must be fetched.

Sans-IO: two manifests in, an :class:`UpdatePlan` out. Chunks are matched by SHA-256 across
every installed file, so a renamed or moved file, or a chunk that moved inside a pack file, is
copied from the disk instead of downloaded. A chunk missing locally is fetched once; later
occurrences in the new release are copied from the staged file that received it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from signing import ManifestFile, ReleaseManifest

PERMISSION_BITS = 0o777


@dataclass(frozen=True)
class CopyLocal:
    """Copy ``size`` bytes from installed file ``source`` at ``source_offset``."""

    sha256: str
    target_offset: int
    size: int
    source: str
    source_offset: int


@dataclass(frozen=True)
class CopyStaged:
    """Copy a chunk the update fetched earlier from the staged new file ``source``."""

    sha256: str
    target_offset: int
    size: int
    source: str
    source_offset: int


@dataclass(frozen=True)
class FetchChunk:
    """Download the chunk ``sha256`` of ``size`` bytes (``/chunks/<sha256>``)."""

    sha256: str
    target_offset: int
    size: int


ChunkOp = CopyLocal | CopyStaged | FetchChunk


@dataclass(frozen=True)
class FilePlan:
    """How to build one file of the new release, chunk by chunk, in file order."""

    path: str
    size: int
    mode: int
    sha256: str
    ops: tuple[ChunkOp, ...]

    @property
    def permissions(self) -> int:
        return self.mode & PERMISSION_BITS


@dataclass(frozen=True)
class ModeChange:
    path: str
    old_mode: int
    new_mode: int


@dataclass(frozen=True)
class UpdatePlan:
    """Everything an applier needs to turn the installed release into the new one."""

    game_id: str
    from_release: int | None
    to_release: int
    files: tuple[FilePlan, ...]
    removed: tuple[str, ...]
    added: tuple[str, ...]
    mode_changes: tuple[ModeChange, ...]

    @property
    def total_bytes(self) -> int:
        return sum(file.size for file in self.files)

    @property
    def fetched_bytes(self) -> int:
        return sum(op.size for op in self.ops() if isinstance(op, FetchChunk))

    @property
    def reused_bytes(self) -> int:
        """Bytes copied from the disk: installed chunks and chunks fetched once, used again."""
        return self.total_bytes - self.fetched_bytes

    @property
    def fetch_count(self) -> int:
        return sum(1 for op in self.ops() if isinstance(op, FetchChunk))

    def ops(self) -> Iterable[ChunkOp]:
        for file in self.files:
            yield from file.ops

    def summary(self) -> dict[str, object]:
        """The JSON shape the agent shows for a planned update."""
        return {
            "game_id": self.game_id,
            "from_release": self.from_release,
            "to_release": self.to_release,
            "total_bytes": self.total_bytes,
            "fetch_bytes": self.fetched_bytes,
            "reused_bytes": self.reused_bytes,
            "fetch_chunks": self.fetch_count,
            "added": list(self.added),
            "removed": list(self.removed),
            "mode_changes": [
                {"path": c.path, "old_mode": c.old_mode, "new_mode": c.new_mode}
                for c in self.mode_changes
            ],
        }


def plan_update(installed: ReleaseManifest | None, new: ReleaseManifest) -> UpdatePlan:
    """The plan that builds ``new`` from the files of ``installed`` (None: a fresh install)."""
    if installed is not None and installed.game_id != new.game_id:
        raise ValueError(f"cannot update {installed.game_id!r} to a release of {new.game_id!r}")
    old_files = installed.files if installed is not None else ()
    local = _index_chunks(old_files)
    staged: dict[str, tuple[str, int]] = {}
    files = tuple(_plan_file(file, local, staged) for file in new.files)
    old_by_path = {file.path: file for file in old_files}
    new_paths = {file.path for file in new.files}
    return UpdatePlan(
        game_id=new.game_id,
        from_release=installed.release if installed is not None else None,
        to_release=new.release,
        files=files,
        removed=tuple(sorted(path for path in old_by_path if path not in new_paths)),
        added=tuple(sorted(path for path in new_paths if path not in old_by_path)),
        mode_changes=_mode_changes(old_by_path, new.files),
    )


def _index_chunks(files: Iterable[ManifestFile]) -> dict[str, list[tuple[str, int]]]:
    """Every place each chunk sits in the installed release, in manifest order."""
    index: dict[str, list[tuple[str, int]]] = {}
    for file in files:
        for chunk in file.chunks:
            index.setdefault(chunk.sha256, []).append((file.path, chunk.offset))
    return index


def _plan_file(
    file: ManifestFile,
    local: dict[str, list[tuple[str, int]]],
    staged: dict[str, tuple[str, int]],
) -> FilePlan:
    ops: list[ChunkOp] = []
    for chunk in file.chunks:
        places = local.get(chunk.sha256)
        if places:
            # The same path first: reading the old version of the file being rebuilt keeps
            # the copy sequential on disk.
            path, offset = next((p for p in places if p[0] == file.path), places[0])
            ops.append(CopyLocal(chunk.sha256, chunk.offset, chunk.size, path, offset))
        elif chunk.sha256 in staged:
            path, offset = staged[chunk.sha256]
            ops.append(CopyStaged(chunk.sha256, chunk.offset, chunk.size, path, offset))
        else:
            staged[chunk.sha256] = (file.path, chunk.offset)
            ops.append(FetchChunk(chunk.sha256, chunk.offset, chunk.size))
    return FilePlan(file.path, file.size, file.mode, file.sha256, tuple(ops))


def _mode_changes(
    old_by_path: dict[str, ManifestFile], new_files: Iterable[ManifestFile]
) -> tuple[ModeChange, ...]:
    changes = []
    for file in new_files:
        old = old_by_path.get(file.path)
        if old is not None and old.mode & PERMISSION_BITS != file.mode & PERMISSION_BITS:
            changes.append(ModeChange(file.path, old.mode, file.mode))
    return tuple(changes)
