"""The trust repository: TUF roles for admins, publishers and the online metadata service.

Root (admin keys, threshold) → targets (admin keys) → one delegated role per publisher,
restricted to its games → the publisher's targets: release manifests and latest-release
pointers. Snapshot and timestamp are signed with online keys kept in the repository, so the
metadata service can re-sign them without an admin.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tuf.api.exceptions import UnsignedMetadataError

from peerpipe.logs import fields
from signing.errors import (
    RepositoryStateError,
    UnauthorizedAdmin,
    UnauthorizedPublisher,
)
from signing.manifest import ReleaseManifest, check_game_id, latest_target_path
from signing.release_pointer import ReleasePointer
from signing.repository_store import RepositoryStore, meta_file
from signing.tuf_api import (
    DelegatedRole,
    Delegations,
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

ROOT_LIFETIME = timedelta(days=365)
TARGETS_LIFETIME = timedelta(days=365)
PUBLISHER_LIFETIME = timedelta(days=90)
SNAPSHOT_LIFETIME = timedelta(days=7)
TIMESTAMP_LIFETIME = timedelta(days=1)
SNAPSHOT_RENEW_BEFORE = timedelta(days=1)

PUBLISHER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_TOP_LEVEL_ROLES = {Root.type, Targets.type, Snapshot.type, Timestamp.type}


def game_path_patterns(game_id: str) -> list[str]:
    """TUF path patterns covering everything under ``games/<game>/``.

    python-tuf matches patterns segment by segment ('*' never crosses '/'), so the pointer
    (``games/g/latest.json``) and the manifests (``games/g/<release>/manifest.json``) each
    need their own pattern.
    """
    return [f"games/{game_id}/*", f"games/{game_id}/*/*"]


def games_of(role: DelegatedRole) -> list[str]:
    """The game ids a publisher role is delegated, read back from its path patterns."""
    games = {p.split("/")[1] for p in role.paths or [] if p.startswith("games/")}
    return sorted(games)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TrustRepository:
    """A TUF repository directory (``config.trust_dir``). Blocking file I/O: use a thread."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self._store = RepositoryStore(path)
        self._clock = clock

    def _expiry(self, lifetime: timedelta) -> datetime:
        return (self._clock() + lifetime).replace(microsecond=0)

    def is_initialised(self) -> bool:
        return self._store.is_initialised()

    def trusted_root(self) -> bytes:
        """The newest root metadata, to pin in agents as their trust anchor."""
        self._store.require_initialised()
        return self._store.root_bytes()

    def init(self, root_signers: list[Signer], threshold: int = 1) -> None:
        """Create root, targets, snapshot and timestamp; generate the online keys."""
        admin_keys = _distinct_keys(root_signers)
        if not 1 <= threshold <= len(admin_keys):
            raise RepositoryStateError(
                f"threshold {threshold} needs between 1 and {len(admin_keys)} root keys"
            )
        with self._store.locked():
            if self._store.is_initialised():
                raise RepositoryStateError(f"trust repository {self.path} is already initialised")
            self._store.create_layout()
            self._store.create_online_signers()
            root = Root(expires=self._expiry(ROOT_LIFETIME), consistent_snapshot=True)
            for key in admin_keys:
                root.add_key(key, Root.type)
                root.add_key(key, Targets.type)
            root.add_key(self._store.online_signer(Snapshot.type).public_key, Snapshot.type)
            root.add_key(self._store.online_signer(Timestamp.type).public_key, Timestamp.type)
            root.roles[Root.type].threshold = threshold
            root.roles[Targets.type].threshold = threshold
            root_md = Metadata(root)
            _sign(root_md, root_signers)
            self._store.write_metadata(Root.type, root_md)
            targets_md = Metadata(Targets(expires=self._expiry(TARGETS_LIFETIME)))
            _sign(targets_md, root_signers)
            targets_bytes = self._store.write_metadata(Targets.type, targets_md)
            snapshot_md = Metadata(Snapshot(expires=self._expiry(SNAPSHOT_LIFETIME)))
            snapshot_md.signed.meta["targets.json"] = meta_file(1, targets_bytes)
            self._write_snapshot_and_timestamp(snapshot_md, timestamp_version=1, bump=False)
        log.info("trust repository initialised", extra=fields(path=str(self.path)))

    def add_publisher(
        self, name: str, public_key: Key, games: list[str], admin_signers: list[Signer]
    ) -> None:
        """Delegate ``games/<game>/…`` for each of ``games`` to the publisher's key."""
        _check_publisher_name(name)
        games = _check_games(games)
        with self._store.locked():
            self._store.require_initialised()
            root = self._store.load_root()
            timestamp = self._store.load_timestamp()
            snapshot = self._store.load_snapshot(timestamp)
            targets = self._store.load_targets(snapshot, Targets.type)
            assert targets is not None
            delegations = targets.signed.delegations or Delegations(keys={}, roles={})
            _check_new_delegation(delegations, name, games)
            delegations.keys[public_key.keyid] = public_key
            assert delegations.roles is not None
            delegations.roles[name] = DelegatedRole(
                name=name,
                keyids=[public_key.keyid],
                threshold=1,
                terminating=True,
                paths=[p for game in games for p in game_path_patterns(game)],
            )
            targets.signed.delegations = delegations
            targets.signed.version += 1
            targets.signed.expires = self._expiry(TARGETS_LIFETIME)
            _sign_as_admin(root, targets, admin_signers)
            data = self._store.write_metadata(Targets.type, targets)
            snapshot.signed.meta["targets.json"] = meta_file(targets.signed.version, data)
            self._write_snapshot_and_timestamp(snapshot, timestamp.signed.version + 1)
        log.info("publisher added", extra=fields(publisher=name, games=games))

    def publish_release(self, manifest: ReleaseManifest, publisher_signer: Signer) -> str:
        """Sign ``manifest`` as its game's publisher, make it the latest release; return its
        target path. Publishing the identical manifest again is a no-op (safe to retry)."""
        manifest_bytes = manifest.to_canonical_json()
        target_path = manifest.target_path
        with self._store.locked():
            self._store.require_initialised()
            timestamp = self._store.load_timestamp()
            snapshot = self._store.load_snapshot(timestamp)
            targets = self._store.load_targets(snapshot, Targets.type)
            assert targets is not None
            role = _publisher_role(targets.signed, manifest.game_id, publisher_signer)
            existing = self._store.load_targets(snapshot, role.name)
            publisher_md = existing or Metadata(Targets(expires=self._expiry(PUBLISHER_LIFETIME)))
            if _already_published(publisher_md.signed, target_path, manifest_bytes):
                return target_path
            _check_newer(self._latest(publisher_md.signed, manifest.game_id), manifest)
            pointer = ReleasePointer(manifest.game_id, manifest.release, manifest.version)
            new_targets = {
                target_path: manifest_bytes,
                latest_target_path(manifest.game_id): pointer.to_canonical_json(),
            }
            for path, data in new_targets.items():
                self._store.write_target(path, data)
                publisher_md.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
            if existing is not None:
                publisher_md.signed.version += 1
            publisher_md.signed.expires = self._expiry(PUBLISHER_LIFETIME)
            publisher_md.signatures.clear()
            publisher_md.sign(publisher_signer)
            data = self._store.write_metadata(role.name, publisher_md)
            snapshot.signed.meta[f"{role.name}.json"] = meta_file(publisher_md.signed.version, data)
            self._write_snapshot_and_timestamp(snapshot, timestamp.signed.version + 1)
        log.info(
            "release published",
            extra=fields(game_id=manifest.game_id, release=manifest.release, publisher=role.name),
        )
        return target_path

    def latest_release(self, game_id: str) -> int | None:
        """The release number ``games/<game>/latest.json`` points to, or None if unpublished."""
        check_game_id(game_id)
        if not self._store.is_initialised():
            return None
        timestamp = self._store.load_timestamp()
        snapshot = self._store.load_snapshot(timestamp)
        targets = self._store.load_targets(snapshot, Targets.type)
        assert targets is not None
        role = _role_for_game(targets.signed, game_id)
        if role is None:
            return None
        publisher_md = self._store.load_targets(snapshot, role.name)
        if publisher_md is None:
            return None
        pointer = self._latest(publisher_md.signed, game_id)
        return None if pointer is None else pointer.release

    def refresh_timestamp(self) -> None:
        """Re-sign the timestamp (and the snapshot when it nears expiry) with the online keys."""
        with self._store.locked():
            self._store.require_initialised()
            timestamp = self._store.load_timestamp()
            snapshot = self._store.load_snapshot(timestamp)
            if snapshot.signed.expires - self._clock() < SNAPSHOT_RENEW_BEFORE:
                self._write_snapshot_and_timestamp(snapshot, timestamp.signed.version + 1)
                return
            timestamp.signed.version += 1
            timestamp.signed.expires = self._expiry(TIMESTAMP_LIFETIME)
            timestamp.signatures.clear()
            timestamp.sign(self._store.online_signer(Timestamp.type))
            self._store.write_metadata(Timestamp.type, timestamp)

    def _latest(self, publisher: Targets, game_id: str) -> ReleasePointer | None:
        target = publisher.targets.get(latest_target_path(game_id))
        if target is None:
            return None
        data = self._store.read_target(target.path, target.hashes["sha256"])
        return ReleasePointer.from_json(data)

    def _write_snapshot_and_timestamp(
        self, snapshot: Metadata[Snapshot], timestamp_version: int, bump: bool = True
    ) -> None:
        if bump:
            snapshot.signed.version += 1
        snapshot.signed.expires = self._expiry(SNAPSHOT_LIFETIME)
        snapshot.signatures.clear()
        snapshot.sign(self._store.online_signer(Snapshot.type))
        snapshot_bytes = self._store.write_metadata(Snapshot.type, snapshot)
        timestamp = Timestamp(
            version=timestamp_version,
            expires=self._expiry(TIMESTAMP_LIFETIME),
            snapshot_meta=meta_file(snapshot.signed.version, snapshot_bytes),
        )
        timestamp_md = Metadata(timestamp)
        timestamp_md.sign(self._store.online_signer(Timestamp.type))
        self._store.write_metadata(Timestamp.type, timestamp_md)


def _distinct_keys(signers: Sequence[Signer]) -> list[Key]:
    keys: dict[str, Key] = {}
    for signer in signers:
        keys[signer.public_key.keyid] = signer.public_key
    if not keys:
        raise RepositoryStateError("at least one root key is required")
    return list(keys.values())


def _sign(metadata: Metadata[Root] | Metadata[Targets], signers: Sequence[Signer]) -> None:
    for signer in signers:
        metadata.sign(signer, append=True)


def _sign_as_admin(
    root: Metadata[Root], targets: Metadata[Targets], admin_signers: Sequence[Signer]
) -> None:
    admin_keyids = set(root.signed.roles[Targets.type].keyids)
    for signer in admin_signers:
        if signer.public_key.keyid not in admin_keyids:
            raise UnauthorizedAdmin(
                f"key {signer.public_key.keyid[:16]}… is not an admin key of this repository"
            )
    targets.signatures.clear()
    _sign(targets, admin_signers)
    try:
        root.verify_delegate(Targets.type, targets)
    except UnsignedMetadataError:
        threshold = root.signed.roles[Targets.type].threshold
        raise UnauthorizedAdmin(
            f"{len(admin_signers)} admin key(s) given; the targets role needs {threshold}"
        ) from None


def _check_publisher_name(name: str) -> None:
    if not PUBLISHER_NAME.fullmatch(name) or name in _TOP_LEVEL_ROLES:
        raise RepositoryStateError(
            f"invalid publisher name {name!r}: use 1-64 lowercase letters, digits, '_' or '-' "
            "(not a top-level role name)"
        )


def _check_games(games: Sequence[str]) -> list[str]:
    if not games:
        raise RepositoryStateError("a publisher needs at least one game")
    checked = [check_game_id(game) for game in games]
    if len(set(checked)) != len(checked):
        raise RepositoryStateError(f"game list {', '.join(checked)} has duplicates")
    return checked


def _check_new_delegation(delegations: Delegations, name: str, games: list[str]) -> None:
    roles = delegations.roles or {}
    if name in roles:
        raise RepositoryStateError(f"publisher {name!r} already exists")
    for role in roles.values():
        taken = sorted(set(games) & set(games_of(role)))
        if taken:
            raise RepositoryStateError(
                f"game {taken[0]!r} is already delegated to publisher {role.name!r}"
            )


def _role_for_game(targets: Targets, game_id: str) -> DelegatedRole | None:
    roles = targets.delegations.roles if targets.delegations else None
    for role in (roles or {}).values():
        if role.is_delegated_path(latest_target_path(game_id)):
            return role
    return None


def _publisher_role(targets: Targets, game_id: str, signer: Signer) -> DelegatedRole:
    role = _role_for_game(targets, game_id)
    keyid = signer.public_key.keyid
    if role is None:
        raise UnauthorizedPublisher(
            f"unauthorized publisher: no publisher is delegated for game {game_id!r}"
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
