"""The delta planner: which bytes of a new release can be copied locally, which must be fetched.

Sans-IO: two manifests in, an :class:`UpdatePlan` out. Chunks are matched by SHA-256 across
every installed file, so a renamed or moved file, or a chunk that moved inside a pack file, is
copied from the disk instead of downloaded. A chunk missing locally is fetched once; later
occurrences in the new release are copied from the staged file that received it.

A missing chunk that lists parts (about 64 KiB each) is rebuilt part by part: parts found
anywhere in the installed release (or staged earlier by this update) are copied, and runs of
adjacent missing parts become one byte-range fetch of the chunk each. An edit inside a pack
file then costs about the parts it touched instead of a whole 1 MiB chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from signing import ChunkRef, ManifestFile, PartRef, ReleaseManifest

PERMISSION_BITS = 0o777


@dataclass(frozen=True)
class CopyLocal:
    """Copy ``size`` bytes from installed file ``source`` at ``source_offset``.

    ``sha256`` names a chunk, or a part when ``chunk`` is set: then a damaged copy is fetched
    as the byte range ``chunk_offset``.. of that chunk."""

    sha256: str
    target_offset: int
    size: int
    source: str
    source_offset: int
    chunk: str | None = None
    chunk_offset: int = 0


@dataclass(frozen=True)
class CopyStaged:
    """Copy a chunk (or part, see :class:`CopyLocal`) the update fetched earlier from the
    staged new file ``source``."""

    sha256: str
    target_offset: int
    size: int
    source: str
    source_offset: int
    chunk: str | None = None
    chunk_offset: int = 0


@dataclass(frozen=True)
class FetchChunk:
    """Download the chunk ``sha256`` of ``size`` bytes (``/chunks/<sha256>``)."""

    sha256: str
    target_offset: int
    size: int


@dataclass(frozen=True)
class FetchRange:
    """Download bytes ``chunk_offset``..``+size`` of chunk ``sha256`` (an HTTP range of
    ``/chunks/<sha256>``): adjacent missing ``parts``, each checked by its own SHA-256."""

    sha256: str
    target_offset: int
    size: int
    chunk_offset: int
    parts: tuple[PartRef, ...]


ChunkOp = CopyLocal | CopyStaged | FetchChunk | FetchRange
FETCH_OPS = (FetchChunk, FetchRange)


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
        return sum(op.size for op in self.ops() if isinstance(op, FETCH_OPS))

    @property
    def reused_bytes(self) -> int:
        """Bytes copied from the disk: installed chunks and chunks fetched once, used again."""
        return self.total_bytes - self.fetched_bytes

    @property
    def fetch_count(self) -> int:
        return sum(1 for op in self.ops() if isinstance(op, FETCH_OPS))

    @property
    def range_count(self) -> int:
        """Fetches that are byte ranges of a chunk (its missing parts)."""
        return sum(1 for op in self.ops() if isinstance(op, FetchRange))

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
            "fetch_ranges": self.range_count,
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
    places = _Places(_index_local(old_files))
    files = tuple(_plan_file(file, places) for file in new.files)
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


Place = tuple[str, int]  # (file path, byte offset in that file)


@dataclass
class _Places:
    """Where bytes with a given SHA-256 can be copied from: the installed release (``local``)
    and the new files the plan fetches into (``staged``, filled in plan order). Chunks and
    parts share one index: a part may well equal a whole chunk elsewhere."""

    local: dict[str, list[Place]]
    staged: dict[str, Place] = field(default_factory=dict)


def _index_local(files: Iterable[ManifestFile]) -> dict[str, list[Place]]:
    """Every place each chunk and part sits in the installed release, in manifest order."""
    index: dict[str, list[Place]] = {}
    for file in files:
        for chunk in file.chunks:
            index.setdefault(chunk.sha256, []).append((file.path, chunk.offset))
            for part, at in zip(chunk.parts, chunk.part_offsets(), strict=True):
                index.setdefault(part.sha256, []).append((file.path, chunk.offset + at))
    return index


def _plan_file(file: ManifestFile, places: _Places) -> FilePlan:
    ops: list[ChunkOp] = []
    for chunk in file.chunks:
        local = places.local.get(chunk.sha256)
        if local:
            path, offset = _nearest(local, file.path)
            ops.append(CopyLocal(chunk.sha256, chunk.offset, chunk.size, path, offset))
        elif chunk.sha256 in places.staged:
            path, offset = places.staged[chunk.sha256]
            ops.append(CopyStaged(chunk.sha256, chunk.offset, chunk.size, path, offset))
        elif chunk.parts:
            ops.extend(_plan_parts(file.path, chunk, places))
        else:
            ops.append(FetchChunk(chunk.sha256, chunk.offset, chunk.size))
        places.staged.setdefault(chunk.sha256, (file.path, chunk.offset))
        for part, at in zip(chunk.parts, chunk.part_offsets(), strict=True):
            places.staged.setdefault(part.sha256, (file.path, chunk.offset + at))
    return FilePlan(file.path, file.size, file.mode, file.sha256, tuple(ops))


def _nearest(places: list[Place], path: str) -> Place:
    # The same path first: reading the old version of the file being rebuilt keeps the copy
    # sequential on disk.
    return next((place for place in places if place[0] == path), places[0])


def _plan_parts(path: str, chunk: ChunkRef, places: _Places) -> list[ChunkOp]:
    """Copy the parts the disk has; fetch each run of adjacent missing parts as one range."""
    ops: list[ChunkOp] = []
    run: list[tuple[PartRef, int]] = []  # missing parts with their offsets in the chunk
    for part, at in zip(chunk.parts, chunk.part_offsets(), strict=True):
        target = chunk.offset + at
        local = places.local.get(part.sha256)
        staged = places.staged.get(part.sha256)
        if local is None and staged is None:
            run.append((part, at))
            # A part repeated later in this chunk is copied from here, not fetched again.
            places.staged[part.sha256] = (path, target)
            continue
        ops.extend(_fetch_run(chunk, run))
        run = []
        if local is not None:
            source, offset = _nearest(local, path)
            ops.append(CopyLocal(part.sha256, target, part.size, source, offset, chunk.sha256, at))
        elif staged is not None:
            source, offset = staged
            ops.append(CopyStaged(part.sha256, target, part.size, source, offset, chunk.sha256, at))
    ops.extend(_fetch_run(chunk, run))
    return ops


def _fetch_run(chunk: ChunkRef, run: list[tuple[PartRef, int]]) -> list[ChunkOp]:
    if not run:
        return []
    if len(run) == len(chunk.parts):
        # Nothing of it on disk: the whole object, which CDN caches hold as it is.
        return [FetchChunk(chunk.sha256, chunk.offset, chunk.size)]
    parts = tuple(part for part, _ in run)
    start = run[0][1]
    size = sum(part.size for part in parts)
    return [FetchRange(chunk.sha256, chunk.offset + start, size, start, parts)]


def _mode_changes(
    old_by_path: dict[str, ManifestFile], new_files: Iterable[ManifestFile]
) -> tuple[ModeChange, ...]:
    changes = []
    for file in new_files:
        old = old_by_path.get(file.path)
        if old is not None and old.mode & PERMISSION_BITS != file.mode & PERMISSION_BITS:
            changes.append(ModeChange(file.path, old.mode, file.mode))
    return tuple(changes)
