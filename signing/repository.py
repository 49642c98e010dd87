"""The trust repository: TUF roles for admins, publishers and the online metadata service.

Root (admin keys, threshold) → targets (admin keys) → one delegated role per publisher,
restricted to its games → the publisher's targets: release manifests and latest-release
pointers. Snapshot and timestamp are signed with online keys kept in the repository, so the
metadata service can re-sign them without an admin. Admin changes to keys (removing a
publisher, revoking a key, rotating the root) live in :mod:`signing.key_management`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peerpipe.logs import fields
from signing import key_management
from signing.errors import RepositoryStateError, RevokedKey, UnauthorizedPublisher
from signing.key_management import KeyRevocation, Renewal, RootRotation
from signing.manifest import ReleaseManifest, check_game_id, latest_target_path
from signing.release_pointer import ReleasePointer
from signing.repository_store import RepositoryStore, meta_file
from signing.roles import (
    DEFAULT_REFRESH_MARGIN,
    PUBLISHER_LIFETIME,
    ROOT_LIFETIME,
    SNAPSHOT_LIFETIME,
    SNAPSHOT_RENEW_BEFORE,
    TARGETS_LIFETIME,
    TIMESTAMP_LIFETIME,
    check_games,
    check_publisher_name,
    delegate_games,
    distinct_keys,
    revoked_keyids,
    role_for_game,
    sign_all,
    sign_as_admin,
)
from signing.tuf_api import (
    DelegatedRole,
    Key,
    Metadata,
    Root,
    Signer,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

log = logging.getLogger("peerpipe.signing")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TrustRepository:
    """A TUF repository directory (``config.trust_dir``). Blocking file I/O: use a thread."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self.store = RepositoryStore(path)
        self._clock = clock

    def expiry(self, lifetime: timedelta) -> datetime:
        return (self._clock() + lifetime).replace(microsecond=0)

    def is_initialised(self) -> bool:
        return self.store.is_initialised()

    def trusted_root(self) -> bytes:
        """The newest root metadata, to pin in agents as their trust anchor."""
        self.store.require_initialised()
        return self.store.root_bytes()

    def init(self, root_signers: list[Signer], threshold: int = 1) -> None:
        """Create root, targets, snapshot and timestamp; generate the online keys."""
        admin_keys = distinct_keys(root_signers)
        if not 1 <= threshold <= len(admin_keys):
            raise RepositoryStateError(
                f"threshold {threshold} needs between 1 and {len(admin_keys)} root keys"
            )
        with self.store.locked():
            if self.store.is_initialised():
                raise RepositoryStateError(f"trust repository {self.path} is already initialised")
            self.store.create_layout()
            self.store.create_online_signers()
            root = Root(expires=self.expiry(ROOT_LIFETIME), consistent_snapshot=True)
            for key in admin_keys:
                root.add_key(key, Root.type)
                root.add_key(key, Targets.type)
            root.add_key(self.store.online_signer(Snapshot.type).public_key, Snapshot.type)
            root.add_key(self.store.online_signer(Timestamp.type).public_key, Timestamp.type)
            root.roles[Root.type].threshold = threshold
            root.roles[Targets.type].threshold = threshold
            root_md = Metadata(root)
            sign_all(root_md, root_signers)
            self.store.write_metadata(Root.type, root_md)
            targets_md = Metadata(Targets(expires=self.expiry(TARGETS_LIFETIME)))
            sign_all(targets_md, root_signers)
            targets_bytes = self.store.write_metadata(Targets.type, targets_md)
            snapshot_md = Metadata(Snapshot(expires=self.expiry(SNAPSHOT_LIFETIME)))
            snapshot_md.signed.meta["targets.json"] = meta_file(1, targets_bytes)
            self.commit_snapshot(snapshot_md, timestamp_version=1, bump=False)
        log.info("trust repository initialised", extra=fields(path=str(self.path)))

    def add_publisher(
        self, name: str, public_key: Key, games: list[str], admin_signers: list[Signer]
    ) -> None:
        """Delegate ``games/<game>/…`` for each of ``games`` to the publisher's key."""
        check_publisher_name(name)
        games = check_games(games)
        with self.store.locked():
            self.store.require_initialised()
            root = self.store.load_root()
            timestamp = self.store.load_timestamp()
            snapshot = self.store.load_snapshot(timestamp)
            targets = self.store.load_targets(snapshot, Targets.type)
            assert targets is not None
            delegate_games(targets.signed, name, public_key, games)
            self.commit_targets(root.signed, targets, admin_signers, snapshot)
            self.commit_snapshot(snapshot, timestamp.signed.version + 1)
        log.info("publisher added", extra=fields(publisher=name, games=games))

    def remove_publisher(self, name: str, admin_signers: list[Signer]) -> list[str]:
        """Withdraw publisher ``name``'s delegation; return the games it had."""
        return key_management.remove_publisher(self, name, admin_signers)

    def revoke_key(
        self,
        keyid: str,
        admin_signers: list[Signer],
        *,
        new_key: Key | None = None,
        new_signer: Signer | None = None,
    ) -> KeyRevocation:
        """Revoke a publisher or online key (by id or unique prefix) and re-sign what must be."""
        return key_management.revoke_key(
            self, keyid, admin_signers, new_key=new_key, new_signer=new_signer
        )

    def renew(
        self, admin_signers: list[Signer], publisher_signers: list[Signer] | None = None
    ) -> Renewal:
        """Re-sign the offline-signed roles the given keys sign, with fresh expiries."""
        return key_management.renew(self, admin_signers, publisher_signers or [])

    def rotate_root(
        self,
        old_signers: list[Signer],
        new_signers: list[Signer],
        threshold: int | None = None,
    ) -> RootRotation:
        """Replace the admin keys: the new root is signed by the old threshold and the new."""
        return key_management.rotate_root(self, old_signers, new_signers, threshold)

    def publish_release(
        self,
        manifest: ReleaseManifest,
        publisher_signer: Signer,
        *,
        critical: bool = False,
        changelog: str = "",
    ) -> str:
        """Sign ``manifest`` as its game's publisher, make it the latest release (marked
        ``critical`` or not, with its ``changelog``); return its target path. Publishing the
        identical manifest again is a no-op (safe to retry)."""
        manifest_bytes = manifest.to_canonical_json()
        target_path = manifest.target_path
        with self.store.locked():
            self.store.require_initialised()
            timestamp = self.store.load_timestamp()
            snapshot = self.store.load_snapshot(timestamp)
            targets = self.store.load_targets(snapshot, Targets.type)
            assert targets is not None
            role = _publisher_role(targets.signed, manifest.game_id, publisher_signer)
            existing = self.store.load_targets(snapshot, role.name)
            publisher_md = existing or Metadata(Targets(expires=self.expiry(PUBLISHER_LIFETIME)))
            if _already_published(publisher_md.signed, target_path, manifest_bytes):
                return target_path
            _check_newer(self._latest(publisher_md.signed, manifest.game_id), manifest)
            pointer = ReleasePointer(
                manifest.game_id, manifest.release, manifest.version, critical, changelog
            )
            new_targets = {
                target_path: manifest_bytes,
                latest_target_path(manifest.game_id): pointer.to_canonical_json(),
            }
            for path, data in new_targets.items():
                self.store.write_target(path, data)
                publisher_md.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
            if existing is not None:
                publisher_md.signed.version += 1
            self.commit_publisher(role.name, publisher_md, publisher_signer, snapshot)
            self.commit_snapshot(snapshot, timestamp.signed.version + 1)
        log.info(
            "release published",
            extra=fields(game_id=manifest.game_id, release=manifest.release, publisher=role.name),
        )
        return target_path

    def latest_release(self, game_id: str) -> int | None:
        """The release number ``games/<game>/latest.json`` points to, or None if unpublished."""
        check_game_id(game_id)
        if not self.store.is_initialised():
            return None
        timestamp = self.store.load_timestamp()
        snapshot = self.store.load_snapshot(timestamp)
        targets = self.store.load_targets(snapshot, Targets.type)
        assert targets is not None
        role = role_for_game(targets.signed, game_id)
        if role is None:
            return None
        publisher_md = self.store.load_targets(snapshot, role.name)
        if publisher_md is None:
            return None
        pointer = self._latest(publisher_md.signed, game_id)
        return None if pointer is None else pointer.release

    def refresh_timestamp(self) -> None:
        """Re-sign the timestamp (and the snapshot when it nears expiry) with the online keys."""
        with self.store.locked():
            self.store.require_initialised()
            self._refresh()

    def refresh_if_expiring(self, margin: timedelta = DEFAULT_REFRESH_MARGIN) -> bool:
        """Re-sign the timestamp if it expires within ``margin`` (and the snapshot if it nears
        expiry). Cheap when nothing is due; the metadata service calls it periodically.
        Returns whether anything was re-signed."""
        with self.store.locked():
            if not self.store.is_initialised():
                return False
            timestamp = self.store.load_timestamp()
            snapshot = self.store.load_snapshot(timestamp)
            now = self._clock()
            due = (
                timestamp.signed.expires - now < margin
                or snapshot.signed.expires - now < SNAPSHOT_RENEW_BEFORE
            )
            if due:
                self._refresh()
        if due:
            log.info("timestamp refreshed", extra=fields(path=str(self.path)))
        return due

    def _refresh(self) -> None:
        timestamp = self.store.load_timestamp()
        snapshot = self.store.load_snapshot(timestamp)
        if snapshot.signed.expires - self._clock() < SNAPSHOT_RENEW_BEFORE:
            self.commit_snapshot(snapshot, timestamp.signed.version + 1)
            return
        timestamp.signed.version += 1
        timestamp.signed.expires = self.expiry(TIMESTAMP_LIFETIME)
        sign_all(timestamp, [self.store.online_signer(Timestamp.type)])
        self.store.write_metadata(Timestamp.type, timestamp)

    def _latest(self, publisher: Targets, game_id: str) -> ReleasePointer | None:
        target = publisher.targets.get(latest_target_path(game_id))
        if target is None:
            return None
        data = self.store.read_target(target.path, target.hashes["sha256"])
        return ReleasePointer.from_json(data)

    def commit_targets(
        self,
        root: Root,
        targets: Metadata[Targets],
        admin_signers: Sequence[Signer],
        snapshot: Metadata[Snapshot],
    ) -> None:
        """Bump, admin-sign and write the top-level targets, and list it in ``snapshot``."""
        targets.signed.version += 1
        targets.signed.expires = self.expiry(TARGETS_LIFETIME)
        sign_as_admin(root, targets, admin_signers)
        data = self.store.write_metadata(Targets.type, targets)
        snapshot.signed.meta["targets.json"] = meta_file(targets.signed.version, data)

    def commit_publisher(
        self, name: str, metadata: Metadata[Targets], signer: Signer, snapshot: Metadata[Snapshot]
    ) -> None:
        """Sign and write a publisher role's metadata and list it in ``snapshot``."""
        metadata.signed.expires = self.expiry(PUBLISHER_LIFETIME)
        sign_all(metadata, [signer])
        data = self.store.write_metadata(name, metadata)
        snapshot.signed.meta[f"{name}.json"] = meta_file(metadata.signed.version, data)

    def commit_snapshot(
        self, snapshot: Metadata[Snapshot], timestamp_version: int, bump: bool = True
    ) -> None:
        """Sign and write a new snapshot and the timestamp that points at it (written last)."""
        if bump:
            snapshot.signed.version += 1
        snapshot.signed.expires = self.expiry(SNAPSHOT_LIFETIME)
        sign_all(snapshot, [self.store.online_signer(Snapshot.type)])
        snapshot_bytes = self.store.write_metadata(Snapshot.type, snapshot)
        timestamp = Timestamp(
            version=timestamp_version,
            expires=self.expiry(TIMESTAMP_LIFETIME),
            snapshot_meta=meta_file(snapshot.signed.version, snapshot_bytes),
        )
        timestamp_md = Metadata(timestamp)
        timestamp_md.sign(self.store.online_signer(Timestamp.type))
        self.store.write_metadata(Timestamp.type, timestamp_md)


def _publisher_role(targets: Targets, game_id: str, signer: Signer) -> DelegatedRole:
    role = role_for_game(targets, game_id)
    keyid = signer.public_key.keyid
    if role is None:
        raise UnauthorizedPublisher(
            f"unauthorized publisher: no publisher is delegated for game {game_id!r}"
        )
    if keyid in revoked_keyids(targets):
        raise RevokedKey(
            f"revoked key: key {keyid[:16]}… of publisher {role.name!r} was revoked by the admins"
        )
    if keyid not in role.keyids:
        raise UnauthorizedPublisher(
            f"unauthorized publisher: key {keyid[:16]}… is not a key of publisher "
            f"{role.name!r}, the one delegated for game {game_id!r}"
        )
    return role


def _already_published(publisher: Targets, target_path: str, data: bytes) -> bool:
    existing = publisher.targets.get(target_path)
    if existing is None:
        return False
    if existing.hashes["sha256"] == TargetFile.from_data(target_path, data).hashes["sha256"]:
        return True
    raise RepositoryStateError(
        f"{target_path} is already published with different content; releases are immutable"
    )


def _check_newer(latest: ReleasePointer | None, manifest: ReleaseManifest) -> None:
    if latest is not None and manifest.release <= latest.release:
        raise RepositoryStateError(
            f"release {manifest.release} of {manifest.game_id!r} is not newer than the latest "
            f"release {latest.release}"
        )
