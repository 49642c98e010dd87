"""The origin store: where published releases live and CDN nodes read them from.

Layout (docs/contracts.md): ``files/<game>/<release>/<path>``, ``chunks/<aa>/<sha256>``,
``torrents/<game>/<release>.torrent``. Writes are atomic (temporary file + rename), so a
reader never sees a half-written file and a crash never leaves one behind under its name.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from seeder.errors import OriginError

COPY_BLOCK = 8 * 1024 * 1024
GAME_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredTorrent:
    """A release torrent in an origin store."""

    game_id: str
    release: int
    path: Path  # the local file; in an S3 origin, the object key (without the key prefix)


@dataclass(frozen=True)
class FileCopy:
    """A file already in the origin: ``files/<game>/<release>/<path>``, ``size`` bytes."""

    game_id: str
    release: int
    path: str
    size: int


class OriginStore(abc.ABC):
    """Where the publish pipeline puts a release's files, chunks and torrent."""

    @abc.abstractmethod
    def put_file(
        self,
        game_id: str,
        release: int,
        path: str,
        source: Path,
        sha256: str,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Copy ``source`` to ``files/<game>/<release>/<path>``, checking its SHA-256."""

    def reuse_file(self, game_id: str, release: int, path: str, earlier: FileCopy) -> bool:
        """Make ``files/<game>/<release>/<path>`` the same bytes as an earlier release's file,
        without uploading them again; False if this store cannot (the caller uploads)."""
        return False

    @abc.abstractmethod
    def has_chunk(self, sha256: str) -> bool: ...

    def present_chunks(self, sha256s: Sequence[str]) -> set[str]:
        """Which of ``sha256s`` the store already holds (so they are not uploaded again)."""
        return {sha256 for sha256 in sha256s if self.has_chunk(sha256)}

    @abc.abstractmethod
    def put_chunk(self, sha256: str, data: bytes, *, verified: bool = False) -> None:
        """Store a chunk unless it is already there (chunks are immutable by content).

        ``verified``: the caller hashed these very bytes itself, so they are not hashed again.
        """

    @abc.abstractmethod
    def put_torrent(self, game_id: str, release: int, data: bytes) -> None: ...

    @abc.abstractmethod
    def torrents(self) -> Iterator[StoredTorrent]:
        """Every release torrent in the store."""


class LocalOrigin(OriginStore):
    """An origin in a local directory (the single-machine default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def release_dir(self, game_id: str, release: int) -> Path:
        return self.root / "files" / check_game(game_id) / str(int(release))

    def game_files_dir(self, game_id: str) -> Path:
        return self.root / "files" / check_game(game_id)

    def chunk_path(self, sha256: str) -> Path:
        if not SHA256_HEX.match(sha256):
            raise OriginError(f"{sha256!r} is not a SHA-256 hex digest")
        return self.root / "chunks" / sha256[:2] / sha256

    def torrent_path(self, game_id: str, release: int) -> Path:
        return self.root / "torrents" / check_game(game_id) / f"{int(release)}.torrent"

    def put_file(
        self,
        game_id: str,
        release: int,
        path: str,
        source: Path,
        sha256: str,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        target = self.release_dir(game_id, release) / path
        digest = hashlib.sha256()
        try:
            with source.open("rb") as reader, _atomic_writer(target) as writer:
                while block := reader.read(COPY_BLOCK):
                    digest.update(block)
                    writer.write(block)
                    if on_bytes:
                        on_bytes(len(block))
                if digest.hexdigest() != sha256:
                    raise OriginError(f"{path} changed while it was being published")
        except OSError as exc:
            raise OriginError(f"cannot copy {path} into the origin: {exc}") from None

    def reuse_file(self, game_id: str, release: int, path: str, earlier: FileCopy) -> bool:
        # Published files are never written in place (only replaced by rename), so two
        # releases can share one inode: an unchanged 40 GiB file costs a link, not a copy.
        source = self.release_dir(earlier.game_id, earlier.release) / earlier.path
        target = self.release_dir(game_id, release) / path
        try:
            if source.stat().st_size != earlier.size:
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.parent / f".link-{os.getpid()}-{threading.get_ident()}-{target.name}"
            os.link(source, temp)
            os.replace(temp, target)
        except OSError:
            return False
        return True

    def has_chunk(self, sha256: str) -> bool:
        return self.chunk_path(sha256).is_file()

    def put_chunk(self, sha256: str, data: bytes, *, verified: bool = False) -> None:
        if not verified and hashlib.sha256(data).hexdigest() != sha256:
            raise OriginError(f"chunk {sha256} does not match its content")
        target = self.chunk_path(sha256)
        if target.is_file():
            return
        _write_atomically(target, data)

    def put_torrent(self, game_id: str, release: int, data: bytes) -> None:
        _write_atomically(self.torrent_path(game_id, release), data)

    def torrents(self) -> Iterator[StoredTorrent]:
        base = self.root / "torrents"
        if not base.is_dir():
            return
        for game_dir in sorted(base.iterdir()):
            if not game_dir.is_dir() or not GAME_ID.match(game_dir.name):
                continue
            for torrent in sorted(game_dir.glob("*.torrent")):
                if torrent.stem.isdigit():
                    yield StoredTorrent(game_dir.name, int(torrent.stem), torrent)


def check_game(game_id: str) -> str:
    """``game_id`` if it is a valid game id; :class:`OriginError` otherwise."""
    if not GAME_ID.match(game_id):
        raise OriginError(f"{game_id!r} is not a valid game id")
    return game_id


@contextlib.contextmanager
def _atomic_writer(target: Path) -> Iterator[BinaryIO]:
    """A file written under a temporary name and renamed into place only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _write_atomically(target: Path, data: bytes) -> None:
    try:
        with _atomic_writer(target) as writer:
            writer.write(data)
    except OSError as exc:
        raise OriginError(f"cannot write {target}: {exc}") from None
