"""The publish pipeline: build folder → chunks → torrent → manifest → origin → signature → swarm.

Everything that can make a build unpublishable (unreadable or special files, symlinks out of
the folder, an empty build, file names a manifest cannot hold, a wrong key or passphrase) is
checked before a byte is read for hashing or written to the origin.

The build is read about once: chunking (main thread), the torrent's piece hashing
(libtorrent, one worker) and the uploads (a pool of workers, fed each file as soon as it is
chunked, chunks straight from the chunker's buffer) overlap.

Signing is the commit point: files and chunks reach the origin first (harmless without a
signed manifest pointing at them), the torrent that makes CDN nodes seed the release is
written only once the manifest is signed, and registration with the tracker and the library
follows last.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from securesystemslib.signer._signer import Signer

from peerpipe.config import Config
from peerpipe.logs import fields
from seeder.build import BuildFile, scan_build
from seeder.chunking import FileDigest, KnownParts, chunk_file
from seeder.errors import PublishError, RegistrationError
from seeder.origin import FileCopy, LocalOrigin, OriginStore
from seeder.preload import (
    SealingOrigin,
    parse_unlock_at,
    publish_unlocked_files,
    republish_locked,
    save_release_key,
)
from seeder.registration import register_release, register_release_key
from seeder.torrent import create_release_torrent
from seeder.upload import ReleaseUpload
from signing import (
    ManifestFile,
    ReleaseManifest,
    ReleasePointer,
    TorrentRef,
    TrustError,
    TrustRepository,
    load_signer,
)
from signing.sealing import new_release_key

log = logging.getLogger("peerpipe.seeder.publish")

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done_bytes, total_bytes)`` while a release is published."""


@dataclass(frozen=True)
class PublishResult:
    manifest: ReleaseManifest
    target_path: str
    created: bool  # False when the identical build was already the latest release
    release_key: bytes | None = None  # a locked release's key (see ``seeder.preload``)
    key_path: Path | None = None  # where that key was saved for escrow
    unlocked_files: bool = False  # a locked release's held-back files published (republish)


def publish_release(
    build_dir: Path,
    game_id: str,
    version: str,
    key_path: Path,
    passphrase: bytes | None,
    config: Config,
    title: str | None = None,
    progress: Progress | None = None,
    *,
    publisher: str | None = None,
    register: bool = True,
    origin: OriginStore | None = None,
    critical: bool = False,
    changelog: str = "",
    unlock_at: str | None = None,
) -> PublishResult:
    """Publish ``build_dir`` as the next release of ``game_id``, signed with ``key_path``.

    ``critical`` and ``changelog`` are signed into the game's latest-release pointer (a
    critical release must be installed before the game launches again). With ``unlock_at``
    (ISO-8601 with an offset) the release is locked: its new chunks reach the origin only
    sealed, and its key is returned and saved under ``<data_dir>/release-keys``.
    Republishing the build that already is the latest release (same version, same files)
    returns that release instead of making a new one; for a locked release, see
    ``seeder.preload.republish_locked`` (the same unlock time, or its held-back files once
    that time has come).
    """
    notes = _ReleaseNotes(critical, changelog)
    _check_notes(game_id, notes)
    report = _ThreadSafeProgress(progress or _no_progress)
    files = scan_build(build_dir)
    _check_names(files)
    signer = _load_signer(key_path, passphrase)
    repository = TrustRepository(config.trust_dir)
    latest = _latest_release(repository, game_id)
    previous = _read_manifest(config.trust_dir, game_id, latest) if latest else None
    plain: OriginStore = origin or LocalOrigin(config.seeder.origin_dir)
    store = plain
    release = (latest or 0) + 1
    sealing = None
    if unlock_at is not None:
        unlock_at = parse_unlock_at(unlock_at)
        public = _public_chunks(config.trust_dir, game_id, latest or 0)
        sealing = SealingOrigin(store, new_release_key(), game_id, release, public)
        store = sealing
    # Three things overlap: libtorrent hashes the torrent in a worker thread, the main thread
    # chunks file after file, and upload workers store each file as soon as it is chunked.
    # A likely republish (same version and file list) waits for the digests instead.
    eager = not (previous and _same_listing(previous, version, files))
    with (
        ThreadPoolExecutor(1, thread_name_prefix="torrent") as hasher,
        ReleaseUpload(
            store,
            game_id,
            release,
            report.counter("uploading", _total_size(files)),
            _earlier_files(previous),
        ) as upload,
        report.cancelled_on_error(),
    ):
        hashing = (files, game_id, release, config, report)
        torrent = hasher.submit(_hash_torrent, *hashing) if eager else None
        known = _known_parts(previous)
        manifest_files = _chunk_all(files, report, upload if eager else None, known)
        if previous and _same_build(previous, version, manifest_files):
            log.info("build already published", extra=fields(game_id=game_id, release=latest))
            result = _republish(previous, unlock_at, plain, files, manifest_files, report)
        else:
            if torrent is None:
                torrent = hasher.submit(_hash_torrent, *hashing)
            manifest = _build_manifest(files, manifest_files, game_id, version, release, torrent)
            if not eager:
                for entry, described in zip(files, manifest_files, strict=True):
                    upload.add(entry, described)
            if sealing is not None and unlock_at is not None:
                upload.finish()  # every new chunk sealed: the manifest names the copies
                manifest = sealing.lock(manifest, unlock_at)
            result = _commit(manifest, upload, repository, signer, store, notes)
    if sealing is not None and result.created:
        result = _keep_key(config, result, sealing.key)
    if register:
        _register(config, result, title or game_id, publisher or key_path.stem)
    return result


@dataclass(frozen=True)
class _ReleaseNotes:
    critical: bool
    changelog: str


def _republish(
    previous: ReleaseManifest,
    unlock_at: str | None,
    store: OriginStore,
    files: Sequence[BuildFile],
    described: tuple[ManifestFile, ...],
    report: _ThreadSafeProgress,
) -> PublishResult:
    """The build is the latest release already: that release, as it is or, for a locked
    one whose time has come, with its held-back files published."""
    result = PublishResult(previous, previous.target_path, created=False)
    if previous.unlock_at is None:
        if unlock_at is not None:
            raise PublishError(
                f"release {previous.release} of {previous.game_id} is this build, published "
                "unlocked: locking it now would hide nothing. Publish a new version to lock it"
            )
        return result
    if not republish_locked(previous, unlock_at):
        return result
    counter = report.counter("uploading", _total_size(files))
    publish_unlocked_files(store, previous, files, described, counter)
    log.info(
        "locked release files published",
        extra=fields(game_id=previous.game_id, release=previous.release),
    )
    return replace(result, unlocked_files=True)


def _check_notes(game_id: str, notes: _ReleaseNotes) -> None:
    """Refuse a changelog the signed pointer cannot hold before anything is read."""
    try:
        ReleasePointer(game_id, 1, "check", notes.critical, notes.changelog)
    except TrustError as exc:
        raise PublishError(f"the release cannot be published: {exc}") from None


def _commit(
    manifest: ReleaseManifest,
    upload: ReleaseUpload,
    repository: TrustRepository,
    signer: Signer,
    store: OriginStore,
    notes: _ReleaseNotes,
) -> PublishResult:
    """Wait for the uploads, sign (the commit point), then let CDN nodes seed the release."""
    upload.finish()
    target = _sign(repository, manifest, signer, notes)
    store.put_torrent(manifest.game_id, manifest.release, manifest.torrent.data)
    log.info("release published", extra=fields(game_id=manifest.game_id, release=manifest.release))
    return PublishResult(manifest, target, created=True)


def _public_chunks(trust_dir: Path, game_id: str, latest: int) -> set[str]:
    """Chunks earlier releases of the game published in the clear (no need to seal them)."""
    public: set[str] = set()
    for release in range(1, latest + 1):
        earlier = _read_manifest(trust_dir, game_id, release)
        if earlier is None:
            continue
        for entry in earlier.files:
            public.update(chunk.sha256 for chunk in entry.chunks if chunk.sealed is None)
    return public


def _keep_key(config: Config, result: PublishResult, key: bytes) -> PublishResult:
    manifest = result.manifest
    path = save_release_key(
        config.data_dir / "release-keys", manifest.game_id, manifest.release, key
    )
    log.info(
        "locked release key saved",
        extra=fields(
            game_id=manifest.game_id, release=manifest.release, unlock_at=manifest.unlock_at
        ),
    )
    return replace(result, release_key=key, key_path=path)


def _register(config: Config, result: PublishResult, title: str, publisher: str) -> None:
    try:
        register_release(config, result.manifest, title, publisher)
        if result.manifest.unlock_at is not None:
            register_release_key(config, result.manifest, result.release_key)
    except RegistrationError as exc:
        # The release is signed and on the origin; publishing the same build again retries
        # only the registration.
        raise RegistrationError(
            f"release {result.manifest.release} is published but not registered: {exc}"
        ) from None


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class _ThreadSafeProgress:
    """Adds up progress from worker threads and reports it one call at a time."""

    def __init__(self, report: Progress) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._done: dict[str, int] = {}
        self._total: dict[str, int] = {}
        self._cancelled = False

    @contextlib.contextmanager
    def cancelled_on_error(self) -> Iterator[None]:
        """On an error, make the workers' next progress report raise, so that they stop
        (libtorrent aborts its hashing when a progress call raises) instead of finishing
        work nobody will use."""
        try:
            yield
        except BaseException:
            self._cancelled = True
            raise

    def start(self, stage: str, total: int) -> None:
        with self._lock:
            self._done[stage], self._total[stage] = 0, total
            self._report(stage, 0, total)

    def counter(self, stage: str, total: int) -> Callable[[int], None]:
        """A callback adding bytes to ``stage``."""
        self.start(stage, total)
        return lambda count: self.advance(stage, count)

    def advance(self, stage: str, count: int) -> None:
        if self._cancelled:
            raise PublishError("publishing was cancelled")
        with self._lock:
            total = self._total[stage]
            done = self._done[stage] = min(total, self._done[stage] + count)
            self._report(stage, done, total)


def _hash_torrent(
    files: Sequence[BuildFile],
    game_id: str,
    release: int,
    config: Config,
    report: _ThreadSafeProgress,
) -> TorrentRef:
    report.start("hashing", sum(entry.size for entry in files))
    return create_release_torrent(
        files,
        game_id,
        release,
        config.agent.cdn_urls,
        config.tracker.public_url,
        on_piece=lambda count: report.advance("hashing", count),
    )


def _load_signer(key_path: Path, passphrase: bytes | None) -> Signer:
    try:
        return load_signer(key_path, passphrase)
    except (OSError, ValueError, TypeError, TrustError) as exc:
        raise PublishError(f"cannot load the publisher key {key_path}: {exc}") from None


def _chunk_all(
    files: Sequence[BuildFile],
    report: _ThreadSafeProgress,
    upload: ReleaseUpload | None,
    known: KnownParts,
) -> tuple[ManifestFile, ...]:
    report.start("chunking", sum(entry.size for entry in files))
    described = []
    for entry in files:
        digest = chunk_file(
            entry.source, on_chunk=upload.add_chunk if upload else None, known_parts=known
        )
        if digest.size != entry.size:
            raise PublishError(f"{entry.path} changed size while it was being published")
        described.append(_manifest_file(entry, digest))
        if upload is not None:
            upload.add_file(entry, described[-1])
        report.advance("chunking", entry.size)
    return tuple(described)


def _known_parts(previous: ReleaseManifest | None) -> KnownParts:
    """The previous release's chunk parts: unchanged chunks need not be cut again."""
    if previous is None:
        return {}
    return {c.sha256: c.parts for entry in previous.files for c in entry.chunks if c.parts}


def _earlier_files(previous: ReleaseManifest | None) -> dict[str, FileCopy]:
    """The previous release's files by content, for unchanged files to be reused."""
    if previous is None:
        return {}
    return {
        described.sha256: FileCopy(
            previous.game_id, previous.release, described.path, described.size
        )
        for described in previous.files
    }


def _total_size(files: Sequence[BuildFile]) -> int:
    return sum(entry.size for entry in files)


def _check_names(files: Sequence[BuildFile]) -> None:
    """Refuse file names a manifest cannot hold before a single byte is read or written."""
    for entry in files:
        _manifest_file(entry, FileDigest(0, EMPTY_SHA256, ()))


def _manifest_file(entry: BuildFile, digest: FileDigest) -> ManifestFile:
    try:
        return ManifestFile(entry.path, digest.size, entry.mode, digest.sha256, digest.chunks)
    except TrustError as exc:
        raise PublishError(f"the build cannot be published: {exc}") from None


def _latest_release(repository: TrustRepository, game_id: str) -> int | None:
    try:
        return repository.latest_release(game_id)
    except TrustError as exc:
        raise PublishError(f"cannot read the trust repository: {exc}") from None


def _read_manifest(trust_dir: Path, game_id: str, release: int) -> ReleaseManifest | None:
    # With consistent snapshots a target may be stored under "<hash>.manifest.json" as well.
    folder = trust_dir / "targets" / "games" / game_id / str(release)
    for candidate in sorted(folder.glob("*manifest.json")):
        try:
            return ReleaseManifest.from_json(candidate.read_bytes())
        except (OSError, TrustError):
            continue
    return None


def _same_listing(previous: ReleaseManifest, version: str, files: Sequence[BuildFile]) -> bool:
    listed = [(entry.path, entry.size, entry.mode) for entry in files]
    return previous.version == version and listed == [
        (described.path, described.size, described.mode) for described in previous.files
    ]


def _same_build(previous: ReleaseManifest, version: str, files: tuple[ManifestFile, ...]) -> bool:
    # Parts are an index over the same bytes: a release published before parts existed is
    # still the same build.
    return previous.version == version and _without_parts(previous.files) == _without_parts(files)


def _without_parts(files: tuple[ManifestFile, ...]) -> tuple[ManifestFile, ...]:
    # Sealed copies are how a locked release ships the same chunks: not part of the build.
    return tuple(
        replace(file, chunks=tuple(replace(c, parts=(), sealed=None) for c in file.chunks))
        for file in files
    )


def _build_manifest(
    files: Sequence[BuildFile],
    manifest_files: tuple[ManifestFile, ...],
    game_id: str,
    version: str,
    release: int,
    torrent: Future[TorrentRef],
) -> ReleaseManifest:
    try:
        return ReleaseManifest(
            game_id=game_id,
            version=version,
            release=release,
            created=datetime.now(UTC).replace(microsecond=0).isoformat(),
            total_size=sum(entry.size for entry in files),
            files=manifest_files,
            torrent=torrent.result(),
        )
    except TrustError as exc:
        raise PublishError(f"the release manifest is invalid: {exc}") from None


def _sign(
    repository: TrustRepository, manifest: ReleaseManifest, signer: Signer, notes: _ReleaseNotes
) -> str:
    try:
        return repository.publish_release(
            manifest, signer, critical=notes.critical, changelog=notes.changelog
        )
    except TrustError as exc:
        raise PublishError(f"signing the release failed: {exc}") from None
