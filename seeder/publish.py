"""The publish pipeline: build folder → chunks → torrent → manifest → origin → signature → swarm.

Signing is the commit point: files and chunks reach the origin first (harmless without a
signed manifest pointing at them), the torrent that makes CDN nodes seed the release is
written only once the manifest is signed, and registration with the tracker and the library
follows last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from securesystemslib.signer._signer import Signer

from peerpipe.config import Config
from peerpipe.logs import fields
from seeder.build import BuildFile, scan_build
from seeder.chunking import FileDigest, chunk_file
from seeder.errors import PublishError, RegistrationError, SeederError
from seeder.origin import LocalOrigin, OriginStore
from seeder.registration import register_release
from seeder.torrent import create_release_torrent
from signing import (
    ManifestFile,
    ReleaseManifest,
    TrustError,
    TrustRepository,
    load_signer,
)

log = logging.getLogger("peerpipe.seeder.publish")

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done_bytes, total_bytes)`` while a release is published."""


@dataclass(frozen=True)
class PublishResult:
    manifest: ReleaseManifest
    target_path: str
    created: bool  # False when the identical build was already the latest release


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
) -> PublishResult:
    """Publish ``build_dir`` as the next release of ``game_id``, signed with ``key_path``.

    Republishing the build that already is the latest release (same version, same files)
    returns that release instead of making a new one.
    """
    report = progress or _no_progress
    files = scan_build(build_dir)
    signer = _load_signer(key_path, passphrase)
    digests = _chunk_all(files, report)
    repository = TrustRepository(config.trust_dir)
    latest = _latest_release(repository, game_id)
    previous = _read_manifest(config.trust_dir, game_id, latest) if latest else None
    manifest_files = _manifest_files(files, digests)
    if previous and _same_build(previous, version, manifest_files):
        log.info("build already published", extra=fields(game_id=game_id, release=latest))
        result = PublishResult(previous, previous.target_path, created=False)
    else:
        release = (latest or 0) + 1
        manifest = _build_manifest(files, manifest_files, game_id, version, release, config)
        store = origin or LocalOrigin(config.seeder.origin_dir)
        _upload(store, manifest, files, report)
        target = _sign(repository, manifest, signer)
        store.put_torrent(game_id, release, manifest.torrent.data)
        log.info("release published", extra=fields(game_id=game_id, release=release))
        result = PublishResult(manifest, target, created=True)
    if register:
        _register(config, result, title or game_id, publisher or key_path.stem)
    return result


def _register(config: Config, result: PublishResult, title: str, publisher: str) -> None:
    try:
        register_release(config, result.manifest, title, publisher)
    except RegistrationError as exc:
        # The release is signed and on the origin; publishing the same build again retries
        # only the registration.
        raise RegistrationError(
            f"release {result.manifest.release} is published but not registered: {exc}"
        ) from None


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _load_signer(key_path: Path, passphrase: bytes | None) -> Signer:
    try:
        return load_signer(key_path, passphrase)
    except (OSError, ValueError, TypeError, TrustError) as exc:
        raise PublishError(f"cannot load the publisher key {key_path}: {exc}") from None


def _chunk_all(files: Sequence[BuildFile], report: Progress) -> list[FileDigest]:
    total = sum(entry.size for entry in files)
    done = 0
    digests = []
    report("chunking", 0, total)
    for entry in files:
        digest = chunk_file(entry.source)
        if digest.size != entry.size:
            raise PublishError(f"{entry.path} changed size while it was being published")
        digests.append(digest)
        done += entry.size
        report("chunking", done, total)
    return digests


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


def _manifest_files(
    files: Sequence[BuildFile], digests: Sequence[FileDigest]
) -> tuple[ManifestFile, ...]:
    try:
        return tuple(
            ManifestFile(entry.path, entry.size, entry.mode, digest.sha256, digest.chunks)
            for entry, digest in zip(files, digests, strict=True)
        )
    except TrustError as exc:
        raise PublishError(f"the build cannot be published: {exc}") from None


def _same_build(previous: ReleaseManifest, version: str, files: tuple[ManifestFile, ...]) -> bool:
    return previous.version == version and previous.files == files


def _build_manifest(
    files: Sequence[BuildFile],
    manifest_files: tuple[ManifestFile, ...],
    game_id: str,
    version: str,
    release: int,
    config: Config,
) -> ReleaseManifest:
    torrent = create_release_torrent(
        files, game_id, release, config.agent.cdn_urls, config.tracker.public_url
    )
    try:
        return ReleaseManifest(
            game_id=game_id,
            version=version,
            release=release,
            created=datetime.now(UTC).replace(microsecond=0).isoformat(),
            total_size=sum(entry.size for entry in files),
            files=manifest_files,
            torrent=torrent,
        )
    except TrustError as exc:
        raise PublishError(f"the release manifest is invalid: {exc}") from None


def _upload(
    store: OriginStore,
    manifest: ReleaseManifest,
    files: Sequence[BuildFile],
    report: Progress,
) -> None:
    done = 0
    report("uploading", 0, manifest.total_size)

    def advance(count: int) -> None:
        nonlocal done
        done += count
        report("uploading", done, manifest.total_size)

    try:
        for entry, described in zip(files, manifest.files, strict=True):
            store.put_file(
                manifest.game_id,
                manifest.release,
                entry.path,
                entry.source,
                described.sha256,
                advance,
            )
            _upload_chunks(store, entry, described)
    except SeederError as exc:
        raise PublishError(str(exc)) from None


def _upload_chunks(store: OriginStore, entry: BuildFile, described: ManifestFile) -> None:
    missing = [chunk for chunk in described.chunks if not store.has_chunk(chunk.sha256)]
    if not missing:
        return
    with entry.source.open("rb") as reader:
        for chunk in missing:
            reader.seek(chunk.offset)
            store.put_chunk(chunk.sha256, reader.read(chunk.size))


def _sign(repository: TrustRepository, manifest: ReleaseManifest, signer: Signer) -> str:
    try:
        return repository.publish_release(manifest, signer)
    except TrustError as exc:
        raise PublishError(f"signing the release failed: {exc}") from None
