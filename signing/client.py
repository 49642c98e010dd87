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
from signing.errors import (
    ArbitrarySoftware,
    EndlessDataAttack,
    FreezeAttack,
    MetadataUnavailable,
    MixAndMatchAttack,
    RollbackAttack,
    TrustError,
    UnauthorizedPublisher,
    WrongSoftware,
)
from signing.manifest import ReleaseManifest, latest_target_path, manifest_target_path
from signing.release_pointer import ReleasePointer
from signing.tuf_api import Root, Snapshot, Targets, Timestamp, Updater, Urllib3Fetcher

log = logging.getLogger("peerpipe.signing")

_TOP_LEVEL_ROLES = {Root.type, Targets.type, Snapshot.type, Timestamp.type}


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
        with self._lock:
            updater = self._updater()
            _refresh(updater)
            pointer: ReleasePointer | None = None
            if release is None:
                pointer = ReleasePointer.from_json(
                    _fetch_target(updater, latest_target_path(game_id))
                )
                _check_same_game(pointer.game_id, game_id, "latest.json")
                release = pointer.release
            data = _fetch_target(updater, manifest_target_path(game_id, release))
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
        log.info(
            "release manifest verified",
            extra=fields(game_id=game_id, release=release, version=manifest.version),
        )
        return manifest

    def _updater(self) -> Updater:
        # A fresh Updater per fetch: ngclient refreshes top-level metadata once per instance.
        self._metadata_dir.mkdir(parents=True, exist_ok=True)
        self._targets_dir.mkdir(parents=True, exist_ok=True)
        try:
            return Updater(
                metadata_dir=str(self._metadata_dir),
                metadata_base_url=self._metadata_url,
                target_dir=str(self._targets_dir),
                target_base_url=self._targets_url,
                fetcher=Urllib3Fetcher(socket_timeout=self._timeout),
                bootstrap=self._trusted_root,
            )
        except tuf_errors.RepositoryError as error:
            raise TrustError(
                f"the pinned trusted root is not valid root metadata: {error}"
            ) from None


def _check_same_game(signed_game: str, asked_game: str, what: str) -> None:
    if signed_game != asked_game:
        raise WrongSoftware(
            f"wrong software attack: asked for {asked_game!r}, the signed {what} is for "
            f"{signed_game!r}"
        )


def _refresh(updater: Updater) -> None:
    try:
        updater.refresh()
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as error:
        raise metadata_error(error) from error


def _fetch_target(updater: Updater, target_path: str) -> bytes:
    try:
        info = updater.get_targetinfo(target_path)
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as error:
        if type(error) is tuf_errors.RepositoryError and "not part of snapshot" in str(error):
            # The game is delegated, but its publisher has not signed anything yet.
            raise UnauthorizedPublisher(
                f"unauthorized publisher: no signed {target_path} exists yet ({error})"
            ) from error
        raise metadata_error(error) from error
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
    except (tuf_errors.DownloadError, OSError) as error:
        raise metadata_error(error) from error


def metadata_error(error: Exception) -> TrustError:
    """The package error for an ngclient failure while loading trust metadata."""
    if isinstance(error, tuf_errors.ExpiredMetadataError):
        return FreezeAttack(f"freeze attack: {error}")
    if isinstance(error, tuf_errors.BadVersionNumberError):
        # ngclient says "Expected …" when a file's version differs from what snapshot or
        # timestamp lists for it (files from different snapshots); otherwise a version
        # went backwards compared to what this client already trusts.
        if str(error).startswith("Expected"):
            return MixAndMatchAttack(f"mix-and-match attack: {error}")
        return RollbackAttack(f"rollback attack: {error}")
    if isinstance(error, tuf_errors.LengthOrHashMismatchError):
        return MixAndMatchAttack(f"mix-and-match attack: metadata does not match its hash: {error}")
    if isinstance(error, tuf_errors.UnsignedMetadataError):
        role = str(error).split(" ", 1)[0]
        if role and role not in _TOP_LEVEL_ROLES:
            return UnauthorizedPublisher(f"unauthorized publisher: {error}")
        return ArbitrarySoftware(f"arbitrary software attack: untrusted signatures: {error}")
    if isinstance(error, tuf_errors.DownloadLengthMismatchError):
        return EndlessDataAttack(f"endless data attack: {error}")
    if isinstance(error, tuf_errors.SlowRetrievalError):
        # urllib3 reports a refused connection as a connect timeout too: name both.
        return MetadataUnavailable(
            "trust metadata unavailable (slow retrieval attack or network failure): "
            f"{error.__cause__ or error}"
        )
    if isinstance(error, tuf_errors.DownloadHTTPError):
        return MetadataUnavailable(f"trust metadata unavailable: HTTP {error.status_code}: {error}")
    if isinstance(error, tuf_errors.DownloadError):
        return MetadataUnavailable(f"trust metadata unavailable: {error.__cause__ or error}")
    if isinstance(error, OSError):
        return TrustError(f"cannot use the trust metadata cache: {error}")
    return TrustError(f"trust metadata rejected: {error}")
