"""A CDN node's local copy of the releases in an S3 origin, so its BitTorrent seed can run.

libtorrent seeds from files on disk; HTTP is served from the bucket directly. Each release
torrent found in the bucket is mirrored file by file (streamed, written under a temporary
name and renamed), and only then is its torrent written locally, which is what makes
:class:`~seeder.seeding.ReleaseSeeder` pick the release up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import libtorrent as lt

from peerpipe.logs import fields
from peerpipe.problems import Problem
from seeder.errors import OriginError
from seeder.origin import LocalOrigin, StoredTorrent
from seeder.s3_origin import S3Bucket, file_key
from seeder.safe_paths import check_relative

log = logging.getLogger("peerpipe.seeder.mirror")


class ReleaseMirror:
    """Copies releases from an S3 origin into the node's local origin folder."""

    def __init__(self, bucket: S3Bucket, local: LocalOrigin) -> None:
        self._bucket = bucket
        self._local = local
        self._failed: set[tuple[str, int]] = set()

    async def sync(self) -> int:
        """Mirror every release not mirrored yet; the number of releases copied."""
        copied = 0
        for stored in await self._bucket.torrents():
            target = self._local.torrent_path(stored.game_id, stored.release)
            release = (stored.game_id, stored.release)
            if release in self._failed or await asyncio.to_thread(target.exists):
                continue
            try:
                await self._mirror(stored, target)
                copied += 1
            except (OriginError, OSError, RuntimeError, ValueError) as exc:
                # A broken release must not stop the others; it is retried on restart.
                self._failed.add(release)
                log.warning(
                    "cannot mirror release",
                    extra=fields(game_id=stored.game_id, release=stored.release, error=str(exc)),
                )
        return copied

    async def _mirror(self, stored: StoredTorrent, target: Path) -> None:
        data = await self._bucket.read(stored.path.as_posix())
        for relative, size in _release_files(data, stored.release):
            local = self._local.release_dir(stored.game_id, stored.release) / relative
            if await asyncio.to_thread(_has_size, local, size):
                continue
            key = file_key(stored.game_id, stored.release, relative)
            await self._copy(key, size, local)
        await asyncio.to_thread(_write_atomically, target, data)
        log.info("mirrored release", extra=fields(game_id=stored.game_id, release=stored.release))

    async def _copy(self, key: str, size: int, local: Path) -> None:
        staged = await asyncio.to_thread(_StagedFile, local)
        try:
            written = 0
            if size:
                async for block in self._bucket.read_range(key, 0, size):
                    await asyncio.to_thread(staged.handle.write, block)
                    written += len(block)
            if written != size:
                raise OriginError(f"{key}: the origin sent {written} of {size} bytes")
            await asyncio.to_thread(staged.commit)
        finally:
            await asyncio.to_thread(staged.discard)


def _release_files(torrent: bytes, release: int) -> list[tuple[str, int]]:
    """The (path inside the release, size) of each real file of a release torrent."""
    files = lt.torrent_info(torrent).layout()
    prefix = f"{release}/"
    listed = []
    for index in range(files.num_files()):
        if files.file_flags(index) & lt.file_storage.flag_pad_file:
            continue
        path = files.file_path(index).replace(os.sep, "/")
        if not path.startswith(prefix):
            raise ValueError(f"torrent file {path!r} is outside release {release}")
        try:
            relative = check_relative(path[len(prefix) :])
        except Problem:
            raise ValueError(f"torrent file {path!r} is not a safe path") from None
        listed.append((relative, int(files.file_size(index))))
    return listed


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


class _StagedFile:
    """A file written under a temporary name, renamed into place only once complete."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".mirror-")
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self._temp = temp
        self._target = target

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.chmod(self._temp, 0o644)
        os.replace(self._temp, self._target)

    def discard(self) -> None:
        self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp)


def _write_atomically(target: Path, data: bytes) -> None:
    staged = _StagedFile(target)
    try:
        staged.handle.write(data)
        staged.commit()
    finally:
        staged.discard()
