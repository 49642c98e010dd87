"""Publishing a locked release (``publish --unlock-at``): its new chunks reach the origin only
sealed (``signing.sealing``), so players can preload it before the unlock time.

:class:`SealingOrigin` stands between the upload workers and the origin store. A chunk that an
earlier release of the game already published is public anyway and goes through as it is;
every other chunk is sealed with the release key and stored under the sealed bytes' SHA-256
(served as ``/chunks/<sha256>`` like any chunk). Release files and the torrent (the plaintext
web seed and swarm) are held back: they are published at unlock time.

Publishing the build of a locked release again (:func:`republish_locked`):

- with the same unlock time, before it: nothing changes; the same release comes back and its
  registration (swarm, key escrow) is retried;
- from the unlock time on, with the same unlock time or none: the held-back files and torrent
  are published, so CDN nodes serve the release as a web seed and seed it like any other;
- with another unlock time: refused. Players may hold chunks sealed with its key and the
  library hands that key out at the first time; a new date means a new release (another
  version), which the publisher asks for explicitly;
- without an unlock time before it: refused too (its files would be public early).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from seeder.build import BuildFile
from seeder.errors import PublishError
from seeder.origin import FileCopy, OriginStore, StoredTorrent
from seeder.upload import ReleaseUpload
from signing import ManifestFile, ReleaseManifest, SealedRef
from signing.sealing import key_check, seal_chunk


def parse_unlock_at(text: str) -> str:
    """An ISO-8601 time with a UTC offset (or ``Z``), normalised to UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PublishError(f"--unlock-at {text!r} is not an ISO-8601 date and time") from None
    if moment.tzinfo is None:
        raise PublishError(f"--unlock-at {text!r} needs a UTC offset, e.g. 2027-03-01T18:00Z")
    return moment.astimezone(UTC).isoformat()


class SealingOrigin(OriginStore):
    """The origin as a locked release's upload sees it (thread-safe: upload workers)."""

    def __init__(
        self,
        inner: OriginStore,
        key: bytes,
        game_id: str,
        release: int,
        public_chunks: set[str],
    ) -> None:
        self._inner = inner
        self.key = key
        self._game_id = game_id
        self._release = release
        self._public = public_chunks
        self._sealed: dict[str, SealedRef] = {}
        self._lock = threading.Lock()

    def put_file(
        self,
        game_id: str,
        release: int,
        path: str,
        source: Path,
        sha256: str,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        # No plaintext release files before the unlock time; count them as done.
        if on_bytes is not None:
            on_bytes(source.stat().st_size)

    def reuse_file(self, game_id: str, release: int, path: str, earlier: FileCopy) -> bool:
        return True  # held back like every file of a locked release

    def has_chunk(self, sha256: str) -> bool:
        return sha256 in self._public and self._inner.has_chunk(sha256)

    def present_chunks(self, sha256s: Sequence[str]) -> set[str]:
        public = [sha256 for sha256 in sha256s if sha256 in self._public]
        return self._inner.present_chunks(public) if public else set()

    def put_chunk(self, sha256: str, data: bytes, *, verified: bool = False) -> None:
        if sha256 in self._public:
            self._inner.put_chunk(sha256, data, verified=verified)
            return
        if not verified and hashlib.sha256(data).hexdigest() != sha256:
            raise PublishError(f"chunk {sha256} changed while it was being published")
        sealed = seal_chunk(self.key, self._game_id, self._release, data)
        sealed_sha256 = hashlib.sha256(sealed).hexdigest()
        self._inner.put_chunk(sealed_sha256, sealed, verified=True)
        with self._lock:
            self._sealed[sha256] = SealedRef(sealed_sha256, len(sealed))

    def put_torrent(self, game_id: str, release: int, data: bytes) -> None:
        return None  # the swarm seeds plaintext: it starts at the unlock time

    def torrents(self) -> Iterator[StoredTorrent]:
        return self._inner.torrents()

    def lock(self, manifest: ReleaseManifest, unlock_at: str) -> ReleaseManifest:
        """``manifest`` with its unlock time, key check and every sealed chunk's copy."""
        files = []
        for entry in manifest.files:
            chunks = []
            for chunk in entry.chunks:
                if chunk.sha256 in self._public:
                    chunks.append(chunk)
                    continue
                sealed = self._sealed.get(chunk.sha256)
                if sealed is None:
                    raise PublishError(f"chunk {chunk.sha256} of {entry.path} was not sealed")
                chunks.append(replace(chunk, sealed=sealed))
            files.append(replace(entry, chunks=tuple(chunks)))
        return replace(
            manifest, files=tuple(files), unlock_at=unlock_at, key_check=key_check(self.key)
        )


def save_release_key(keys_dir: Path, game_id: str, release: int, key: bytes) -> Path:
    """Keep the release key (owner-only) until the lead's key escrow takes it."""
    folder = keys_dir / game_id
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{release}.key"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.hex().encode() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return target


def republish_locked(
    published: ReleaseManifest, unlock_at: str | None, now: datetime | None = None
) -> bool:
    """Whether republishing the build of locked release ``published`` (asked with
    ``unlock_at``, already normalised) must publish its held-back files now; PublishError
    when the request contradicts the release (see the module's notes)."""
    assert published.unlock_at is not None
    locked_until = published.unlock_at
    release = f"release {published.release} of {published.game_id}"
    if unlock_at is not None and unlock_at != locked_until:
        raise PublishError(
            f"{release} is this build, locked until {locked_until}; it cannot be locked until "
            f"{unlock_at} instead: players may hold chunks sealed with its key, which the "
            "library hands out at the first time. Publish it as a new version to change the date"
        )
    opened = (now or datetime.now(UTC)) >= datetime.fromisoformat(locked_until)
    if unlock_at is None and not opened:
        raise PublishError(
            f"{release} is this build, locked until {locked_until}: its files cannot be "
            f"published in the clear before then. Pass --unlock-at {locked_until} to retry its "
            "registration, or publish it again from that time on"
        )
    return opened


def publish_unlocked_files(
    store: OriginStore,
    manifest: ReleaseManifest,
    files: Sequence[BuildFile],
    described: Sequence[ManifestFile],
    on_bytes: Callable[[int], None],
) -> None:
    """Publish a locked release's held-back files and torrent (its unlock time has come)."""
    with ReleaseUpload(store, manifest.game_id, manifest.release, on_bytes) as upload:
        for entry, file in zip(files, described, strict=True):
            upload.add_file(entry, file)
        upload.finish()
    store.put_torrent(manifest.game_id, manifest.release, manifest.torrent.data)
