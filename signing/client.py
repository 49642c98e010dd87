"""The agent's side of trust: fetch and verify a release manifest with python-tuf's ngclient.

Every check (signatures, thresholds, versions, expiry, lengths, hashes, delegations) is
ngclient's; this module chooses what to fetch, and turns its errors into the attack they stop.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from tuf.api import exceptions as tuf_errors

from peerpipe.logs import fields
from signing.attacks import RecordingFetcher, metadata_error
from signing.errors import (
    ArbitrarySoftware,
    EndlessDataAttack,
    TrustError,
    UnauthorizedPublisher,
    WrongSoftware,
)
from signing.manifest import ReleaseManifest, latest_target_path, manifest_target_path
from signing.release_pointer import ReleasePointer
from signing.torrent_files import check_torrent_files
from signing.tuf_api import Updater, UpdaterConfig

log = logging.getLogger("peerpipe.signing")

# Upper bounds on metadata whose length nothing signed states yet (endless data attack).
# Generous for real repositories: a publisher role lists ~200 bytes per release, a snapshot
# ~100 bytes per publisher. Release manifests are targets: their signed length bounds them.
METADATA_LIMITS = UpdaterConfig(
    max_root_rotations=64,
    max_delegations=8,
    root_max_length=256 * 1024,
    timestamp_max_length=16 * 1024,
    snapshot_max_length=4 * 1024 * 1024,
    targets_max_length=8 * 1024 * 1024,
)


class TrustClient:
    """Verified access to one trust repository, as served by a CDN node.

    Blocking (ngclient uses urllib3): call from a thread. Calls on one client are serialised
    because they share the metadata cache in ``cache_dir``.
    """

    def __init__(
        self,
        metadata_url: str,
        targets_url: str,
        cache_dir: Path,
        trusted_root: bytes,
        *,
        timeout: int = 30,
    ) -> None:
        self._metadata_url = metadata_url
        self._targets_url = targets_url
        self._metadata_dir = cache_dir / "metadata"
        self._targets_dir = cache_dir / "targets"
        self._trusted_root = trusted_root
        self._timeout = timeout
        self._lock = threading.Lock()

    def fetch_release(self, game_id: str, release: int | None = None) -> ReleaseManifest:
        """The verified manifest of ``release`` of ``game_id`` (the latest when None)."""
        return self._fetch(game_id, release)[0]

    def fetch_latest(self, game_id: str) -> tuple[ReleaseManifest, ReleasePointer]:
        """The verified latest manifest of ``game_id`` with its signed pointer (which says
        whether the release is critical and holds its changelog)."""
        manifest, pointer = self._fetch(game_id, None)
        assert pointer is not None
        return manifest, pointer

    def _fetch(
        self, game_id: str, release: int | None
    ) -> tuple[ReleaseManifest, ReleasePointer | None]:
        with self._lock:
            fetcher = RecordingFetcher(socket_timeout=self._timeout)
            updater = self._updater(fetcher)
            self._refresh(updater, fetcher)
            pointer: ReleasePointer | None = None
            if release is None:
                pointer = ReleasePointer.from_json(
                    self._fetch_target(updater, fetcher, latest_target_path(game_id))
                )
                _check_same_game(pointer.game_id, game_id, "latest.json")
                release = pointer.release
            data = self._fetch_target(updater, fetcher, manifest_target_path(game_id, release))
        manifest = ReleaseManifest.from_json(data)
        _check_same_game(manifest.game_id, game_id, "manifest")
        if manifest.release != release:
            raise WrongSoftware(
                f"wrong software attack: asked for release {release} of {game_id!r}, "
                f"the signed manifest is release {manifest.release}"
            )
        if pointer is not None and pointer.version != manifest.version:
            raise WrongSoftware(
                f"wrong software attack: latest.json names version {pointer.version!r}, "
                f"the manifest is version {manifest.version!r}"
            )
        check_torrent_files(manifest)
        log.info(
            "release manifest verified",
            extra=fields(game_id=game_id, release=release, version=manifest.version),
        )
        return manifest, pointer

    def _updater(self, fetcher: RecordingFetcher) -> Updater:
        # A fresh Updater per fetch: ngclient refreshes top-level metadata once per instance.
        self._metadata_dir.mkdir(parents=True, exist_ok=True)
        self._targets_dir.mkdir(parents=True, exist_ok=True)
        try:
            return Updater(
                metadata_dir=str(self._metadata_dir),
                metadata_base_url=self._metadata_url,
                target_dir=str(self._targets_dir),
                target_base_url=self._targets_url,
                fetcher=fetcher,
                config=METADATA_LIMITS,
                bootstrap=self._trusted_root,
            )
        except tuf_errors.RepositoryError as error:
            raise TrustError(
                f"the pinned trusted root is not valid root metadata: {error}"
            ) from None

    def _refresh(self, updater: Updater, fetcher: RecordingFetcher) -> None:
        try:
            updater.refresh()
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as error:
            raise metadata_error(error, fetcher, self._metadata_dir) from error

    def _fetch_target(self, updater: Updater, fetcher: RecordingFetcher, target_path: str) -> bytes:
        try:
            return _fetch_target(updater, target_path)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as error:
            raise metadata_error(error, fetcher, self._metadata_dir) from error


def _fetch_target(updater: Updater, target_path: str) -> bytes:
    """Download and verify one target; ngclient errors for metadata are left to the caller."""
    try:
        info = updater.get_targetinfo(target_path)
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as error:
        if type(error) is tuf_errors.RepositoryError and "not part of snapshot" in str(error):
            # The game is delegated, but its publisher has not signed anything yet.
            raise UnauthorizedPublisher(
                f"unauthorized publisher: no signed {target_path} exists yet ({error})"
            ) from error
        raise
    if info is None:
        raise UnauthorizedPublisher(
            f"unauthorized publisher: no publisher delegated for this game signed {target_path}"
        )
    try:
        path = updater.find_cached_target(info) or updater.download_target(info)
        return Path(path).read_bytes()
    except tuf_errors.LengthOrHashMismatchError:
        raise ArbitrarySoftware(
            f"arbitrary software attack: {target_path} does not match its signed hash"
        ) from None
    except tuf_errors.DownloadLengthMismatchError:
        raise EndlessDataAttack(
            f"endless data attack: {target_path} is longer than its signed length"
        ) from None


def _check_same_game(signed_game: str, asked_game: str, what: str) -> None:
    if signed_game != asked_game:
        raise WrongSoftware(
            f"wrong software attack: asked for {asked_game!r}, the signed {what} is for "
            f"{signed_game!r}"
        )
